{#- Undo the kdump formula, the exact inverse of applying it where the formula changed
    something: the boot-loader files as before it (crashkernel.absent restore: its guard
    deleted, a package's own crashkernel= such as Debian's grub.d/kdump-tools.cfg back), the
    service stopped and disabled, the kdump config file as the distribution had it (or gone
    when the formula created it), the formula's sysctl file and service drop-in removed and
    the running sysctl values it changed set back. Packages stay. The dump volume and the
    dumps on it are kept unless pillar kdump:purge_target is true; purging runs only on valid
    pillar. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import kdump, rooted with context %}
{%- set config = rooted(kdump.config_file) %}
{%- set saved = rooted(kdump.sysctl_saved_file) %}

{#- kdump:crashkernel:manage false: the boot loader is the administrator's, left alone. #}
{%- if kdump.crashkernel.manage is not sameas false %}

kdump-clean-crashkernel:
  crashkernel.absent:
    - name: crashkernel
    - restore: true
{%- endif %}

kdump-clean-service-dead:
  service.dead:
    - name: {{ kdump.service | json }}

kdump-clean-service-disabled:
  service.disabled:
    - name: {{ kdump.service | json }}
    - require:
      - service: kdump-clean-service-dead

{#- kdump.configured kept each file it writes (the config file; on RedHat also
    /etc/sysconfig/kdump) as the distribution had it: <file>.kdump-formula.orig, or marked
    <file>.kdump-formula.created when there was none. Neither: nothing of the formula's to
    undo (already cleaned, or written by a release before these markers: left alone). #}
{%- set written = [('kdump-clean-config', config)] %}
{%- if kdump.sysconfig_file %}
{%-   do written.append(('kdump-clean-sysconfig', rooted(kdump.sysconfig_file))) %}
{%- endif %}
{%- for id, path in written %}
{%-   set undo = none %}
{%-   if salt['file.file_exists'](path ~ '.kdump-formula.orig') %}
{%-     set undo = 'restore' %}

{{ id }}:
  file.rename:
    - name: {{ path | json }}
    - source: {{ (path ~ '.kdump-formula.orig') | json }}
    - force: true
    - require:
      - service: kdump-clean-service-dead
{%-   elif salt['file.file_exists'](path ~ '.kdump-formula.created') %}
{%-     set undo = 'remove' %}

{{ id }}:
  file.absent:
    - name: {{ path | json }}
    - require:
      - service: kdump-clean-service-dead
{%-   endif %}

{%-   for suffix in ('.kdump-formula.created', '.kdump-formula.bak') %}

{{ id }}{{ suffix }}:
  file.absent:
    - name: {{ (path ~ suffix) | json }}
    - require:
      - service: kdump-clean-service-dead
{%-     if undo %}
      - file: {{ id }}
{%-     endif %}
{%-   endfor %}
{%- endfor %}

{#- kdump.configured's marker of a rebuild still owed (see docs/states/kdump.md). #}
kdump-clean-rebuild-marker:
  file.absent:
    - name: {{ rooted(opts['cachedir'] ~ '/kdump-formula') | json }}

kdump-clean-sysctl-file:
  file.absent:
    - name: {{ rooted(kdump.sysctl_file) | json }}

{#- The name releases before zz-kdump-formula.conf used. #}
kdump-clean-sysctl-file-legacy:
  file.absent:
    - name: {{ rooted('/etc/sysctl.d/90-kdump-formula.conf') | json }}

kdump-clean-sysctl-after-service:
  file.absent:
    - name: {{ rooted('/etc/systemd/system/' ~ kdump.service ~ '.service.d/zz-kdump-formula-sysctl.conf') | json }}
    - require:
      - service: kdump-clean-service-dead

{#- The running values from before the formula (kept by sysctl.sls), set back after the
    service (which may set kernel.panic_on_oops while loaded) stopped. #}
{%- set restore = [] %}
{%- if salt['file.file_exists'](saved) %}
{%-   for line in salt['file.read'](saved).splitlines() %}
{%-     if '=' in line and not line.lstrip().startswith('#') %}
{%-       do restore.append(line.split('=', 1) | map('trim') | list) %}
{%-     endif %}
{%-   endfor %}
{%- endif %}
{%- for key, value in restore %}

kdump-clean-sysctl-{{ key }}:
  sysctl.present:
    - name: {{ key | json }}
    - value: {{ value | json }}
    # Kept in the saved file itself, which is removed right after.
    - config: {{ saved | json }}
    - require:
      - service: kdump-clean-service-dead
      - file: kdump-clean-sysctl-file
    - require_in:
      - file: kdump-clean-sysctl-saved
{%- endfor %}

kdump-clean-sysctl-saved:
  file.absent:
    - name: {{ saved | json }}

{%- if kdump.purge_target and kdump.volume %}

include:
  - .validate

kdump-clean-target-unmounted:
  mount.unmounted:
    - name: {{ kdump.volume.mountpoint | json }}
    - device: {{ ('/dev/' ~ kdump.volume.vg ~ '/' ~ kdump.volume.lv) | json }}
    - config: {{ rooted('/etc/fstab') | json }}
    - persist: true
    - require:
      - kdump: kdump-validated
      - service: kdump-clean-service-dead

kdump-clean-target-lv-absent:
  lvm.lv_absent:
    - name: {{ kdump.volume.lv | json }}
    - vgname: {{ kdump.volume.vg | json }}
    - require:
      - kdump: kdump-validated
      - mount: kdump-clean-target-unmounted
{%- endif %}
