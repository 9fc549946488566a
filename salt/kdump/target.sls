{#- The dump volume (pillar kdump:volume). config.sls includes this file, never the other way
    round: the config requires the volume, the free-space check (config.sls) both. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import kdump with context %}

include:
  - .validate
  - .package

{%- if kdump.volume %}

kdump-dump-target:
  kdump.dump_target:
    - name: {{ (kdump.volume.vg ~ '/' ~ kdump.volume.lv) | json }}
    - vg: {{ kdump.volume.vg | json }}
    - lv: {{ kdump.volume.lv | json }}
    - size: {{ kdump.volume.size | json }}
    - fstype: {{ kdump.volume.fstype | json }}
    - mountpoint: {{ kdump.volume.mountpoint | json }}
    - mount_at_boot: {{ kdump.volume.mount_at_boot | json }}
    # size auto makes room for the dumps retention keeps plus the next crash's (pruning
    # happens at the next run, not in the capture kernel); every dump kept: the last + next.
    - dumps: {{ (kdump.retention.keep + 1) if kdump.retention.keep is not none else 2 }}
    # Errors name the pillar key (kdump:volume:vg), not only the argument.
    - pillar_key: kdump:volume
    - require:
      - kdump: kdump-validated
      # The LVM tools come with the packages (map: lvm_pkgs).
      - pkg: kdump-package
{%- endif %}
