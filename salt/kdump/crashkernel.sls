{#- The crashkernel= boot argument (pillar kdump:crashkernel). It follows the package so that
    a reservation the package adds itself (Debian's grub.d/kdump-tools.cfg) is seen and
    overridden. A new value needs a reboot; kdump-ready reports it. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import kdump with context %}

include:
  - .validate
  - .package

kdump-crashkernel:
  crashkernel.configured:
    - name: {{ kdump.crashkernel.value | json }}
    - require_reboot: {{ kdump.crashkernel.require_reboot | json }}
    - default_entry_only: {{ kdump.crashkernel.default_entry_only | json }}
    - require:
      - kdump: kdump-validated
      - pkg: kdump-package
