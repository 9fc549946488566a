# kdump-formula: the two commands.  `make test` on a fresh Debian 12 machine (as root)
# installs what it needs and runs every test tier; `make demo` shows the formula at work on
# a throwaway fleet of Debian guests (`make inspect`: a read-only look at this machine).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt | md5sum | cut -c1-12)
APT_PKGS := qemu-system-x86 qemu-utils debootstrap grub-pc-bin grub2-common parted fdisk \
            e2fsprogs kpartx dpkg-dev makedumpfile crash xz-utils zstd socat
# headless browser for the HTML report check (tests/integration/test_report_browser.py)
APT_PKGS += chromium
# a real sshd and ssh client for the ssh dump target (tests/integration/test_ssh_dump.py); the
# test starts its own sshd on a loopback port: disable the system one (systemctl disable --now ssh)
APT_PKGS += openssh-server openssh-client
APT_STAMP := /var/lib/kdump-formula-apt.$(shell echo $(APT_PKGS) | md5sum | cut -c1-12)
# Older Salt release lines still supported upstream: the unit and functional tiers also run
# under each (.venv has requirements.txt's pin). One venv per version, outside the checkout
# (the functional tier serves the checkout as file_roots), installed once per requirements.
SALT_MATRIX ?= 3007.16 3006.29
MATRIX_DIR ?= /var/cache/kdump-formula-matrix
MATRIX_KEY := $(shell cat requirements.txt | md5sum | cut -c1-12)
MATRIX_STAMPS := $(foreach v,$(SALT_MATRIX),$(MATRIX_DIR)/salt-$(v)/.installed-$(MATRIX_KEY))

.PHONY: test test-fast test-matrix test-fleet wheel lint demo inspect venv apt clean

$(STAMP): requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

venv: $(STAMP)

$(APT_STAMP):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PKGS)
	touch $@

apt: $(APT_STAMP)

# The stamp's name holds requirements.txt's checksum, so no mtime prerequisite: a fresh clone's
# requirements.txt is always newer than the stamp, and CI rebuilt both venvs on every run.
$(MATRIX_DIR)/salt-%/.installed-$(MATRIX_KEY):
	rm -rf $(MATRIX_DIR)/salt-$*
	python3 -m venv $(MATRIX_DIR)/salt-$*
	$(MATRIX_DIR)/salt-$*/bin/python -m pip install -q --disable-pip-version-check \
	    -r <(grep -v '^salt==' requirements.txt) salt==$*
	touch $@

test-matrix: $(MATRIX_STAMPS)
	@for v in $(SALT_MATRIX); do \
	    echo "== unit and functional tiers under salt $$v"; \
	    $(MATRIX_DIR)/salt-$$v/bin/python -m pytest -q -p no:cacheprovider tests/unit tests/functional \
	        || exit 1; \
	done

wheel: venv
	$(PY) -m pip wheel -q --no-deps -w dist .

lint: venv
	$(VENV)/bin/yamllint -s salt/kdump/*.yaml pillar.example
	find salt -name '*.sls' -print0 | xargs -0 $(VENV)/bin/salt-lint

test-fast: venv
	$(PY) -m pytest tests/unit tests/functional tests/integration

# Every tier. The fleet tier (tests/e2e/test_fleet.py: a master and three QEMU guests, about
# half an hour under TCG) runs beside the rest (lint, the Salt matrix, `pytest tests` with the
# single-host scenario): its guests wait on each other and on Salt for long stretches, and the
# other tiers are mostly one Python process. Its output: artifacts/fleet-tier.log (tail shown).
FLEET_LOG := artifacts/fleet-tier.log
test: venv apt $(MATRIX_STAMPS)
	@mkdir -p artifacts
	@echo "== the fleet tier runs in the background; its log: $(FLEET_LOG)"
	@KDUMP_MAKE_TEST=1 $(PY) -m pytest -p no:cacheprovider --basetemp=/tmp/kdump-fleet-tier -rs \
	    tests/e2e/test_fleet.py > $(FLEET_LOG) 2>&1 & fleet=$$!; \
	trap 'kill $$fleet 2>/dev/null' INT TERM; \
	$(MAKE) --no-print-directory lint test-matrix \
	    && KDUMP_MAKE_TEST=1 KDUMP_E2E_FLEET=0 $(PY) -m pytest tests; rest=$$?; \
	echo "== waiting for the fleet tier ($(FLEET_LOG))"; \
	wait $$fleet; fleet_rc=$$?; \
	tail -n 40 $(FLEET_LOG); \
	echo "== make test: lint, matrix and pytest tests exit $$rest; fleet tier exit $$fleet_rc"; \
	test $$rest -eq 0 && test $$fleet_rc -eq 0

# The real-kernel fleet alone (master + Debian 13 ×2 + Debian 12 under QEMU, tests/e2e/fleet.md).
test-fleet: venv apt
	$(PY) -m pytest tests/e2e/test_fleet.py

# The main job on an embedded default (demo/fleet_demo.py): a salt-master on 127.0.0.1 and
# 3 Debian guests under QEMU (2 trixie + 1 bookworm), highstate, guarded reboot, staged crash
# test, table and HTML report in artifacts/demo/. 12 min measured under TCG on 2 cores (docs/demo.md).
# Options: make demo DEMO_ARGS="--plan" (boots nothing) / "--guests 2 --keep" / "--accel tcg" /
# "--stay" (the fleet stays up after the run, for a look around, until Ctrl-C).
DEMO_ARGS ?=
demo: venv apt
	$(PY) -m demo.fleet_demo $(DEMO_ARGS)

# What the modules see on this machine, read-only (never edits the boot loader).
inspect: venv
	$(PY) demo/inspect_host.py

clean:
	rm -rf $(VENV) .pytest_cache
