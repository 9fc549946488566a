"""kdump:lookup reaches the execution module end to end: with the minion's own pillar
``lookup: {config_file: /etc/kdump-custom.conf, service: kdump-custom}`` kdump.configure
writes that file, kdump.status checks that service, kdump.rebuild restarts it, and a lookup
key that cannot reach the modules is refused by name. Salt's service module is the test
double (tests/doubles), so nothing touches this host."""

import json
import pathlib

import pytest
from salt.exceptions import SaltInvocationError

REPO = pathlib.Path(__file__).resolve().parents[2]
LOOKUP = {"config_file": "/etc/kdump-custom.conf", "service": "kdump-custom"}


def suse_loaders(own_pillar_loaders, tmp_path, kdump):
    loaders, root = own_pillar_loaders(
        tmp_path, kdump, os_family="Suse",
        module_dirs=[str(REPO / "_modules"), str(REPO / "tests" / "doubles")],
        providers={"service": "kdumptest_service"},
    )
    files = {
        "sys/kernel/kexec_crash_size": "0\n",
        "sys/kernel/kexec_crash_loaded": "0\n",
        # The custom service runs, the family's does not: status must look at the custom one.
        "var/lib/kdumptest/services.json": json.dumps(
            {"kdump-custom": {"enabled": True, "running": True}, "kdump": {"enabled": False, "running": False}}
        ),
    }
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    (root / "var/crash").mkdir(parents=True)
    return loaders, root


def test_config_file_and_service_overrides_reach_the_module(own_pillar_loaders, tmp_path, fake_bin):
    calls = fake_bin / "systemctl.log"
    (fake_bin / "systemctl").write_text(f'#!/bin/sh\necho "systemctl $*" >> {calls}\n')
    (fake_bin / "systemctl").chmod(0o755)
    loaders, root = suse_loaders(own_pillar_loaders, tmp_path, {"lookup": LOOKUP})
    try:
        kdump = loaders.modules.kdump
        assert loaders.modules.service.offline() is False  # the double, not this host's
        facts = kdump.facts()
        assert (facts["config_file"], facts["service"]) == (LOOKUP["config_file"], LOOKUP["service"])

        written = kdump.configure({"collector": {"dump_level": 20}})
        assert written["path"] == "/etc/kdump-custom.conf" and written["changed"] is True
        assert "KDUMP_DUMPLEVEL=20" in (root / "etc/kdump-custom.conf").read_text()
        assert not (root / "etc/sysconfig/kdump").exists()
        assert kdump.settings()["collector"]["dump_level"] == 20

        status = kdump.status()
        assert (status["service"], status["config"]) == ("kdump-custom", "/etc/kdump-custom.conf")
        assert (status["enabled"], status["active"]) == (True, True)

        rebuilt = kdump.rebuild()
        assert rebuilt["commands"] == [["systemctl", "restart", "kdump-custom"]]
        # (Salt itself asks systemctl --version while loading.)
        restarts = [line for line in calls.read_text().splitlines() if "--version" not in line]
        assert restarts == ["systemctl restart kdump-custom"]
    finally:
        loaders.reset_state()


def test_an_override_that_cannot_reach_the_modules_is_refused(own_pillar_loaders, tmp_path):
    loaders, _root = suse_loaders(own_pillar_loaders, tmp_path, {"lookup": {"fstab_file": "/etc/fstab.kdump"}})
    try:
        with pytest.raises(SaltInvocationError, match=r"^kdump:lookup:fstab_file: cannot be overridden"):
            loaders.modules.kdump.facts()
        with pytest.raises(SaltInvocationError, match=r"kdump:lookup:fstab_file: cannot be overridden"):
            loaders.modules.kdump.configure({})
        status = loaders.modules.kdump.status()
        assert status["ready"] is False
        index = next(i for i, problem in enumerate(status["problems"]) if problem.startswith("kdump:lookup:fstab_file:"))
        assert status["codes"][index] == "lookup_invalid"
        assert status["config"] == "/etc/sysconfig/kdump"
    finally:
        loaders.reset_state()
