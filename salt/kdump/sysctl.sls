{#- Panic behaviour (pillar kdump:sysctl): each key set now and persisted in the map's
    sysctl_file. A key whose value is null is not managed. #}
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
