{#- Dumps over ssh, the dump host's side: apply to the dump host's minion (pillar
    kdump:ssh:authorize). Every fleet minion's dump key from the mine (kdump_ssh_pubkey, of the
    minions kdump:ssh:authorize:tgt matches) is authorized for the dump user with Salt's
    ssh_auth, restricted: `restrict` (no pty, no forwarding, no ~/.ssh/rc) and from= when
    kdump:ssh:authorize:from is given. No forced command: kdump runs mkdir -p, dd of=, scp and
    mv with arguments it builds at dump time (docs/modules/kdump_ssh.md). A key this SLS
    authorized earlier (comment kdump@<minion>) whose minion left the fleet or publishes another
    key now is removed (ssh_auth.absent); other lines of the file are not touched. The dump host
    also publishes its host keys for the fleet to pin (mine_functions kdump_ssh_hostkeys,
    pillar.example). #}
{%- set plan = salt['kdump_ssh.server_plan']() %}

include:
  - .validate

{%- if plan.error %}

kdump-ssh-server:
  test.fail_without_changes:
    - name: {{ plan.error | json }}
    - require:
      - kdump: kdump-validated
{%- else %}
{%-   if plan.path %}

kdump-ssh-dump-dir:
  file.directory:
    - name: {{ plan.path | json }}
    - user: {{ plan.user | json }}
    - mode: '0750'
    - makedirs: true
    - require:
      - kdump: kdump-validated
{%-   endif %}
{%-   for entry in plan['keys'] %}

kdump-ssh-authorized-{{ entry.minion }}:
  ssh_auth.present:
    - name: {{ entry.key | json }}
    - enc: {{ entry.enc | json }}
    - comment: {{ entry.comment | json }}
    - user: {{ plan.user | json }}
    - config: {{ plan.config | json }}
    - options: {{ plan.options | json }}
    - require:
      - kdump: kdump-validated
{%-   endfor %}
{%-   for entry in plan.stale %}

kdump-ssh-stale-{{ entry.minion }}-{{ loop.index }}:
  ssh_auth.absent:
    - name: {{ entry.key | json }}
    - enc: {{ entry.enc | json }}
    - comment: {{ entry.comment | json }}
    - user: {{ plan.user | json }}
    - config: {{ plan.config | json }}
    - require:
      - kdump: kdump-validated
{%-   endfor %}
{%-   for bad in plan.invalid %}

kdump-ssh-invalid-{{ bad.minion }}:
  test.fail_without_changes:
    - name: {{ bad.reason | json }}
{%-   endfor %}
{%-   if not plan['keys'] and not plan.invalid %}

kdump-ssh-no-keys:
  test.show_notification:
    - text: {{ ('no minion matching the target has published a dump key in the mine yet (' ~ (plan.missing | join(', ') or 'none answered') ~ ')') | json }}
{%-   endif %}
{%- endif %}
