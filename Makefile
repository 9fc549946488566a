# kdump-formula: the two commands.  `make test` on a fresh Debian 12 machine (as root)
# installs what it needs and runs every test tier; `make demo` shows the formula at work.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt | md5sum | cut -c1-12)
APT_PKGS := qemu-system-x86 qemu-utils debootstrap grub-pc-bin grub2-common parted fdisk \
            e2fsprogs kpartx dpkg-dev makedumpfile crash xz-utils zstd socat
APT_STAMP := /var/lib/kdump-formula-apt.$(shell echo $(APT_PKGS) | md5sum | cut -c1-12)

.PHONY: test test-fast lint demo venv apt clean

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

lint: venv
	$(VENV)/bin/yamllint -s salt/kdump/*.yaml salt/kdump/osfamily/*.yaml pillar.example
	find salt -name '*.sls' -print0 | xargs -0 $(VENV)/bin/salt-lint

test-fast: venv
	$(PY) -m pytest tests/unit tests/functional tests/integration

test: venv apt lint
	$(PY) -m pytest tests

demo: venv
	$(PY) demo/run.py

clean:
	rm -rf $(VENV) .pytest_cache
