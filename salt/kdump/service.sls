{#- The kdump service (map: service) enabled at boot and running, then kdump.ready: the crash
    kernel is loaded, or the result says a reboot is pending. Where the service starts before
    the reservation exists (Debian's kdump-tools) that is one state, kdump-service
    (service.running with enable). Where it cannot (map: service_starts_unreserved false:
    RedHat's kdumpctl, Suse's load.sh) kdump-service enables it and kdump-service-running
    starts it only once memory is reserved, i.e. after the reboot (it starts at boot then).
    With pillar kdump:enabled false the service is stopped and disabled instead. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import kdump with context %}

include:
  - .validate
  - .package
  - .config
  - .crashkernel
  - .target
  - .sysctl

{%- if kdump.enabled %}
{%-   set panic_on_oops_dropin = kdump.sysctl | dictsort | selectattr(1, 'ne', none) | list
                                and kdump.service_sets_panic_on_oops %}
{%-   if kdump.service_starts_unreserved %}

kdump-service:
  service.running:
    - name: {{ kdump.service | json }}
    - enable: true
    - require:
      - kdump: kdump-validated
      - pkg: kdump-package
      - kdump: kdump-config
      - crashkernel: kdump-crashkernel
{%-     if panic_on_oops_dropin %}
      - file: kdump-sysctl-after-service
{%-     endif %}
{%-   else %}

kdump-service:
  service.enabled:
    - name: {{ kdump.service | json }}
    - require:
      - kdump: kdump-validated
      - pkg: kdump-package
      - kdump: kdump-config

kdump-service-running:
  service.running:
    - name: {{ kdump.service | json }}
    # Started once crash-kernel memory is reserved (after the reboot).
    - onlyif:
      - fun: crashkernel.get
        get_return: reserved_bytes
    - require:
      - kdump: kdump-validated
      - service: kdump-service
      - kdump: kdump-config
      - crashkernel: kdump-crashkernel
{%-     if panic_on_oops_dropin %}
      - file: kdump-sysctl-after-service
{%-     endif %}
{%-   endif %}

kdump-ready:
  kdump.ready:
    - name: {{ kdump.service | json }}
    - require_reboot: {{ kdump.crashkernel.require_reboot | json }}
    - service_starts_unreserved: {{ kdump.service_starts_unreserved | json }}
    - require:
      - kdump: kdump-validated
      - service: kdump-service
{%-   if not kdump.service_starts_unreserved %}
      - service: kdump-service-running
{%-   endif %}
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
