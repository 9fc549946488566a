# Pillar top file of the integration tier: every minion gets pillar.example.
---
base:
  '*':
    - example
