{#- Orchestration: crash-test kdump across minions in stages with the kdump runner
    (salt-run kdump.crashtest; docs/runners/kdump.md). Arguments come from the pillar
    kdump_crashtest (see the end of pillar.example), e.g.:

      salt-run state.orchestrate orch.kdump_crashtest \
        pillar='{"kdump_crashtest": {"tgt": "web*", "canary": 1, "wave_size": "25%"} }'

    tgt is required; every other key falls back to the runner's default:
      tgt_type (glob), canary (1), wave_size ("25%") or waves (a list of sizes, e.g.
      [1, 2, "50%"], the last repeating), reboot_timeout (900),
      poll_interval (10), max_failures (0), analyze (false), vmlinux (none), timeout (30),
      report and junit (none: absolute paths on the master for the HTML report and JUnit XML).
    To see the stages without crashing anything: add test=True to the salt-run line (the
    runner's plan: result None, the stages in the comment) or salt-run kdump.plan <tgt> ...
    The state (kdump_fleet.crashtest, docs/states/kdump_fleet.md) prints each progress line
    as it happens; its comment is the summary and each failure. It fails (and salt-run exits
    non-zero) when any crashed minion did not come back with a new, complete dump, when an
    argument is bad, or when the target includes the master's own host. #}
{%- set crashtest = pillar.get('kdump_crashtest', {}) %}
{%- if crashtest is not mapping or not crashtest.get('tgt') %}
{{- raise('kdump_crashtest:tgt: the pillar must name the minions to crash-test') }}
{%- endif %}
{%- set keys = ['tgt_type', 'canary', 'wave_size', 'waves', 'reboot_timeout', 'poll_interval',
                'max_failures', 'analyze', 'vmlinux', 'timeout', 'report', 'junit'] %}

kdump-crashtest:
  kdump_fleet.crashtest:
    - tgt: {{ crashtest.tgt | json }}
{%- for key in keys %}
{%-   if crashtest.get(key) is not none %}
    - {{ key }}: {{ crashtest[key] | json }}
{%-   endif %}
{%- endfor %}
