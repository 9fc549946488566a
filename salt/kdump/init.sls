{#- kdump: crash dumps set up from pillar kdump (see pillar.example and docs/formula.md).
    Order comes from requisites; kdump-validated runs first and every state requires it. #}

include:
  - .validate
  - .package
  - .target
  - .crashkernel
  - .ssh
  - .config
  - .sysctl
  - .service
  - .retention
