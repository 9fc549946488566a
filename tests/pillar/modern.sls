# The modern host of pillar.example's commented-out block (kept identical by
# tests/functional/test_formula_render.py).
---
kdump:
  crashkernel:
    value: auto
  settings:
    target:
      type: ssh
      host: dumps.example.com
      user: kdump
      sshkey: /root/.ssh/kdump_id_ed25519
      path: /var/crash
    collector:
      dump_level: 31
      compression: lzo
  sysctl:
    kernel.panic: 10
    kernel.panic_on_oops: 1
    kernel.sysrq: 1
