# The classic RHEL seed of pillar.example's commented-out block (kept identical by
# tests/functional/test_formula_render.py): RedHat minions only.
---
kdump:
  crashkernel:
    value: 128M@16M
  settings:
    target:
      type: device
      device: /dev/mapper/rootvg-crashlv
      fstype: ext3
      path: /var/crash
    collector:
      dump_level: 20
      compression: zlib
  volume:
    vg: rootvg
    lv: crashlv
    size: 1000M
    fstype: ext3
    mountpoint: /var/crash
    mount_at_boot: false
  retention:
    keep: null
  sysctl:
    kernel.panic: 180
    kernel.panic_on_oops: 0
