{#- Panic behaviour (pillar kdump:sysctl, merged over the defaults kernel.panic 180 and
    kernel.panic_on_oops 0): each key set now and persisted in the map's sysctl_file; a key
    set to null (e.g. a default) is left alone. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import kdump, rooted with context %}

include:
  - .validate

{%- for key, value in kdump.sysctl | dictsort %}
{%-   if value is not none %}

kdump-sysctl-{{ key }}:
  sysctl.present:
    - name: {{ key | json }}
    - value: {{ value | json }}
    - config: {{ rooted(kdump.sysctl_file) | json }}
    - require:
      - kdump: kdump-validated
{%-   endif %}
{%- endfor %}
