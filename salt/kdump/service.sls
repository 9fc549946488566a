{#- The kdump service (map: service) enabled at boot, then kdump.ready: the crash kernel
    is loaded, or the result says a reboot is pending. With pillar kdump:enabled false the
    service is stopped and disabled instead. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import kdump with context %}

include:
  - .validate
  - .package
  - .config
  - .crashkernel
  - .target

{%- if kdump.enabled %}

kdump-service:
  service.enabled:
    - name: {{ kdump.service | json }}
    - require:
      - kdump: kdump-validated
      - pkg: kdump-package
      - kdump: kdump-config

kdump-ready:
  kdump.ready:
    - name: {{ kdump.service | json }}
    - require_reboot: {{ kdump.crashkernel.require_reboot | json }}
    - require:
      - kdump: kdump-validated
      - service: kdump-service
      - crashkernel: kdump-crashkernel
      - kdump: kdump-config
{%-   if kdump.space_check and kdump.dump_dir %}
      - kdump: kdump-space-checked
{%-   endif %}
{%- else %}

kdump-service-dead:
  service.dead:
    - name: {{ kdump.service | json }}
    - require:
      - kdump: kdump-validated
      - pkg: kdump-package

kdump-service-disabled:
  service.disabled:
    - name: {{ kdump.service | json }}
    - require:
      - kdump: kdump-validated
      - service: kdump-service-dead
{%- endif %}
