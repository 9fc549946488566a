{#- The OS's kdump configuration file from the neutral settings (pillar kdump:settings).
    kdump.configured rebuilds the capture initrd whenever the file changes, and again when the
    package changes (watch). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import kdump with context %}

include:
  - .validate
  - .package
{%- if kdump.volume %}
  - .target
{%- endif %}

kdump-config:
  kdump.configured:
    - name: {{ kdump.config_file | json }}
    - settings: {{ kdump.settings | json }}
    - require:
      - kdump: kdump-validated
{%- if kdump.volume %}
      - kdump: kdump-dump-target
{%- endif %}
    - watch:
      - pkg: kdump-package
