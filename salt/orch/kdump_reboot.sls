{#- Orchestration: the guarded reboot into a pending crashkernel reservation with the kdump
    runner (salt-run kdump.reboot_pending; docs/runners/kdump.md). Arguments come from the
    pillar kdump_reboot (see the end of pillar.example), e.g.:

      salt-run state.orchestrate orch.kdump_reboot \
        pillar='{"kdump_reboot": {"tgt": "web*", "confirm": "web*", "batch": 2} }'

    tgt is required, and confirm must repeat it exactly (a list target: its ids joined by
    commas) or nothing is rebooted. Every other key falls back to the runner's default:
      tgt_type (glob), batch ("25%"; or a list of sizes), reboot_timeout (900),
      poll_interval (10), max_failures (0), timeout (30).
    Only minions whose kdump.status says reboot_pending are rebooted; never the master's
    own host. To see the batches first: add test=True to the salt-run line (no confirm
    needed) or salt-run kdump.reboot_pending <tgt> test=True
    The state (kdump_fleet.reboot_pending, docs/states/kdump_fleet.md) prints each progress
    line as it happens; its comment is the summary and each failure. It fails (and salt-run
    exits non-zero) when the reboot was refused or a rebooted minion did not come back ready. #}
{%- set reboot = pillar.get('kdump_reboot', {}) %}
{%- if reboot is not mapping or not reboot.get('tgt') %}
{{- raise('kdump_reboot:tgt: the pillar must name the minions to reboot') }}
{%- endif %}
{%- set keys = ['tgt_type', 'confirm', 'batch', 'reboot_timeout', 'poll_interval',
                'max_failures', 'timeout'] %}

kdump-reboot-pending:
  kdump_fleet.reboot_pending:
    - tgt: {{ reboot.tgt | json }}
{%- for key in keys %}
{%-   if reboot.get(key) is not none %}
    - {{ key }}: {{ reboot[key] | json }}
{%-   endif %}
{%- endfor %}
