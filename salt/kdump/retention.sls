{#- Old dumps pruned to the newest pillar kdump:retention:keep (null keeps all). Only for
    targets whose dumps land on this host. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import kdump with context %}

include:
  - .validate
  - .config

{%- if kdump.retention.keep is not none and kdump.dump_dir %}

kdump-retention:
  vmcore.retained:
    - name: {{ kdump.dump_dir | json }}
    - keep: {{ kdump.retention.keep | json }}
    - require:
      - kdump: kdump-validated
      - kdump: kdump-config
{%- endif %}
