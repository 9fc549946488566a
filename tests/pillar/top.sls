# Pillar top file of the integration tier: every minion gets pillar.example as it is, whatever
# its OS family (pillar.example works on RedHat, Debian and Suse).
---
base:
  '*':
    - example
