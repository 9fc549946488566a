{#- Dumps over ssh, the minion's side (pillar kdump:settings:target:type ssh; nothing
    otherwise): the dump key made once when missing (kdump_ssh.key_present: never rotated or
    overwritten), and the dump host's key pinned in known_hosts with Salt's ssh_known_hosts,
    from pillar kdump:ssh:host_key or the mine of kdump:ssh:host_minion (never
    StrictHostKeyChecking=no, never an unverified ssh-keyscan). The public key reaches the dump
    host through the Salt mine: pillar mine_functions kdump_ssh_pubkey (pillar.example), read
    by salt/kdump/ssh_server.sls there. config.sls watches both states: on RedHat and Suse
    the key and known_hosts are copied into the capture initrd, which is rebuilt. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import kdump, rooted with context %}

include:
  - .validate

{%- set target = kdump.settings.target %}
{%- if target.type == 'ssh' and kdump.ssh is mapping %}
{%-   set ssh = kdump.ssh %}
{%-   set keyfile = salt['kdump_ssh.key_path']() if target.host and target.user else none %}
{%-   if ssh.manage_key and keyfile %}

kdump-ssh-key:
  kdump_ssh.key_present:
    - name: {{ keyfile | json }}
    - key_type: {{ ssh.key_type | json }}
    - require:
      - kdump: kdump-validated
{%-   endif %}
{%-   if ssh.host_key or ssh.host_minion %}
{%-     set pin = salt['kdump_ssh.pinned_host_key']() %}

kdump-ssh-known-host:
{%-     if pin.error %}
  test.fail_without_changes:
    - name: {{ pin.error | json }}
{%-     else %}
  ssh_known_hosts.present:
    - name: {{ target.host | json }}
    - enc: {{ pin.enc | json }}
    - key: {{ pin.key | json }}
    - port: {{ ssh.port | int }}
    # Salt refuses a port with hashed entries; plain entries are what ssh-keygen -F reads too.
    - hash_known_hosts: false
    - config: {{ rooted(ssh.known_hosts) | json }}
{%-     endif %}
    - require:
      - kdump: kdump-validated
{%-   endif %}
{%- endif %}
