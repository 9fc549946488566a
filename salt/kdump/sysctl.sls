{#- Panic behaviour (pillar kdump:sysctl, merged over the defaults kernel.panic 180 and
    kernel.panic_on_oops 0): each key set now and persisted in the map's sysctl_file; a key
    set to null (e.g. a default) is left alone.

    Who wins: at boot systemd-sysctl applies every sysctl.d file in the order of its file name,
    the last value of a key winning; the formula's file is named zz-... so it sorts after the
    distribution's files and 99-sysctl.conf. Then the kdump service itself writes
    kernel.panic_on_oops=1 whenever it loads the crash kernel on Debian (kdump-config) and Suse
    (load.sh) (map: service_sets_panic_on_oops): there a drop-in applies the formula's file
    again after every start of the service, and in a run these states come last, after the
    config state and the service have loaded the crash kernel. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import kdump, rooted with context %}

include:
  - .validate

{%- set managed = kdump.sysctl | dictsort | selectattr(1, 'ne', none) | list %}
{%- if managed %}

{#- The running values before the formula first set them, kept once for kdump.clean. #}
kdump-sysctl-saved:
  file.managed:
    - name: {{ rooted(kdump.sysctl_saved_file) | json }}
    - contents: |
        # kdump-formula: the running values before it set them, restored by kdump.clean.
{%-   for key, value in managed %}
        {{ key }} = {{ salt['sysctl.get'](key) }}
{%-   endfor %}
    - replace: false
    - makedirs: true
    - require:
      - kdump: kdump-validated
{%- endif %}
{%- for key, value in managed %}

kdump-sysctl-{{ key }}:
  sysctl.present:
    - name: {{ key | json }}
    - value: {{ value | json }}
    - config: {{ rooted(kdump.sysctl_file) | json }}
    - order: last
    - require:
      - kdump: kdump-validated
      - file: kdump-sysctl-saved
{%- endfor %}

{%- if managed and kdump.service_sets_panic_on_oops %}

kdump-sysctl-after-service:
  file.managed:
    - name: {{ rooted('/etc/systemd/system/' ~ kdump.service ~ '.service.d/zz-kdump-formula-sysctl.conf') | json }}
    - contents: |
        # Managed by kdump-formula (salt/kdump/sysctl.sls). {{ kdump.service }} sets
        # kernel.panic_on_oops=1 when it loads the crash kernel; apply the formula's
        # sysctl values again after it, so pillar kdump:sysctl wins.
        [Service]
        ExecStartPost=-sysctl -q -p {{ kdump.sysctl_file }}
    - makedirs: true
    - require:
      - kdump: kdump-validated
{%- endif %}
