{#- Undo the kdump formula: crashkernel= removed, service stopped and disabled, the config
    file and the formula's sysctl file removed. Packages stay. The dump volume and the dumps
    on it are kept unless pillar kdump:purge_target is true; purging runs only on valid
    pillar. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import kdump, rooted with context %}

kdump-clean-crashkernel:
  crashkernel.absent:
    - name: crashkernel

kdump-clean-service-dead:
  service.dead:
    - name: {{ kdump.service | json }}

kdump-clean-service-disabled:
  service.disabled:
    - name: {{ kdump.service | json }}
    - require:
      - service: kdump-clean-service-dead

kdump-clean-config:
  file.absent:
    - name: {{ rooted(kdump.config_file) | json }}
    - require:
      - service: kdump-clean-service-dead

kdump-clean-sysctl-file:
  file.absent:
    - name: {{ rooted(kdump.sysctl_file) | json }}

{%- if kdump.purge_target and kdump.volume %}

include:
  - .validate

kdump-clean-target-unmounted:
  mount.unmounted:
    - name: {{ kdump.volume.mountpoint | json }}
    - device: {{ ('/dev/' ~ kdump.volume.vg ~ '/' ~ kdump.volume.lv) | json }}
    - config: {{ rooted(kdump.fstab_file) | json }}
    - persist: true
    - require:
      - kdump: kdump-validated
      - service: kdump-clean-service-dead

kdump-clean-target-lv-absent:
  lvm.lv_absent:
    - name: {{ kdump.volume.lv | json }}
    - vgname: {{ kdump.volume.vg | json }}
    - require:
      - kdump: kdump-validated
      - mount: kdump-clean-target-unmounted
{%- endif %}
