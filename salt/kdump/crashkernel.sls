{#- The crashkernel= boot argument (pillar kdump:crashkernel). It follows the package so that
    a reservation the package adds itself (Debian's grub.d/kdump-tools.cfg) is seen and
    overridden. A new value needs a reboot; kdump-ready reports it. With manage: false the
    state only reports the running reservation and the boot loader's value ("not managed").
    default_entry_only: true is the older spelling of scope: default. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import kdump with context %}
{%- set crash = kdump.crashkernel %}

include:
  - .validate
  - .package

kdump-crashkernel:
  crashkernel.configured:
    - name: {{ crash.value | json }}
    - require_reboot: {{ crash.require_reboot | json }}
    - manage: {{ crash.manage | json }}
    - low: {{ crash.low | json }}
    - scope: {{ ('default' if crash.default_entry_only is sameas true else crash.scope) | json }}
    - require:
      - kdump: kdump-validated
      - pkg: kdump-package
