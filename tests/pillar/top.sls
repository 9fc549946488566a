# Pillar top file of the integration tier: every minion gets pillar.example; Debian-family
# minions also get debian.sls, as a fleet targets per-family pillar.
---
base:
  '*':
    - example
  'os_family:Debian':
    - match: grain
    - debian
