{#- The OS's kdump configuration file from the neutral settings (pillar kdump:settings) and the
    distribution keys they do not model (kdump:passthrough; on RedHat also /etc/sysconfig/kdump),
    and the free-space check for the dumps it configures (kdump:space_check).
    kdump.configured rebuilds the capture initrd whenever the file changes, and again when the
    package changes (watch). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import kdump with context %}

include:
  - .validate
  - .package
  - .target
  - .ssh

kdump-config:
  kdump.configured:
    - name: {{ kdump.config_file | json }}
    - settings: {{ kdump.settings | json }}
    - passthrough: {{ kdump.passthrough | json }}
    - require:
      - kdump: kdump-validated
{%- if kdump.volume %}
      - kdump: kdump-dump-target
{%- endif %}
    - watch:
      - pkg: kdump-package
{%- set target = kdump.settings.target %}
{%- if target.type == 'ssh' and kdump.ssh is mapping %}
{#-   The capture initrd holds the key and known_hosts on RedHat and Suse: rebuilt when they change. #}
{%-   if kdump.ssh.manage_key and target.host and target.user and salt['kdump_ssh.key_path']() %}
      - kdump_ssh: kdump-ssh-key
{%-   endif %}
{%-   if (kdump.ssh.host_key or kdump.ssh.host_minion) and not salt['kdump_ssh.pinned_host_key']().error %}
      - ssh_known_hosts: kdump-ssh-known-host
{%-   endif %}
{%- endif %}

{%- if kdump.space_check and kdump.dump_dir %}

kdump-space-checked:
  kdump.space_checked:
    - name: {{ kdump.dump_dir | json }}
    - path: {{ kdump.dump_dir | json }}
    - require:
      - kdump: kdump-validated
      - kdump: kdump-config
{%-   if kdump.volume %}
      - kdump: kdump-dump-target
{%-   endif %}
{%- endif %}
