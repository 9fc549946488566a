# Bad pillar for the render tests: wrong types and unknown keys in several sections.
---
kdump:
  crashkernel: 128M
  settings:
    target: /dev/sdb1
    collector:
      dump_level: 40
  volume: rootvg/crashlv
  sysctl: 180
  retention: 3
  colour: blue
