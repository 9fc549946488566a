# Debian/Ubuntu minions of the integration tier: kdump-tools mounts nothing, so the seed's
# dump volume (pillar.example) must be mounted at boot where kdump-tools writes.
---
kdump:
  volume:
    mount_at_boot: true
