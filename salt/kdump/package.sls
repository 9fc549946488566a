{#- The OS family's kdump packages (map: pkgs). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import kdump with context %}

include:
  - .validate

kdump-package:
  pkg.installed:
    - pkgs: {{ kdump.pkgs | json }}
    - require:
      - kdump: kdump-validated
