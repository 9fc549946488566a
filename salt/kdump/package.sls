{#- The OS family's kdump packages (map: pkgs), plus the LVM tools (map: lvm_pkgs) when a dump
    volume is managed: Salt's lvm module, which kdump.dump_target uses, loads only where they
    are installed, so the modules are reloaded after the install. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import kdump with context %}

include:
  - .validate

kdump-package:
  pkg.installed:
    - pkgs: {{ (kdump.pkgs + (kdump.lvm_pkgs if kdump.volume else [])) | json }}
{%- if kdump.volume %}
    - reload_modules: true
{%- endif %}
    - require:
      - kdump: kdump-validated
