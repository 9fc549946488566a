{#- Check the whole kdump pillar (and the facts it depends on) before anything changes.
    Every other state of the formula requires kdump-validated. #}
{%- set given = salt['pillar.get']('kdump', {}) %}

kdump-validated:
  kdump.validated:
    - name: kdump pillar
    - config: {{ given | json }}
