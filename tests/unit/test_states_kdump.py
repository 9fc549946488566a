"""Unit tier: the kdump states over an in-memory stand-in of the kdump module's contract
(``kdump.dump_target`` and ``kdump.dump_volume``: tests/unit/test_kdump_volume.py)."""

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from _states import kdump as state
from kdumplib import schema

MIB = 1 << 20
GIB = 1 << 30


class FakeKdump:
    """The kdump execution module's contract over one config "file" in memory."""

    def __init__(self):
        self.path = "/etc/default/kdump-tools"
        self.settings = {}
        self.rebuilds = 0
        self.loaded = False
        self.reserved = 0
        self.reboot_pending = False
        self.problems = []
        self.estimate_bytes = 300 * MIB
        self.free_bytes = 10 * GIB
        self.rebuild_fails = False
        self.active = True
        self.pending = False

    def validate_pillar(self, data):
        try:
            return schema.validate_pillar(data)
        except ValueError as exc:
            raise SaltInvocationError(str(exc)) from None

    def configure(self, settings, test=False, passthrough=None):
        self.passthrough = passthrough
        changed = settings != self.settings
        diff = f"-{sorted(self.settings.items())}\n+{sorted(settings.items())}\n" if changed else ""
        if changed and not test:
            self.pending = True
            self.settings = dict(settings)
        return {"path": self.path, "changed": changed, "diff": diff}

    def rebuild(self):
        if self.rebuild_fails:
            raise CommandExecutionError("kdump-config load failed: mkinitramfs: no space")
        self.rebuilds += 1
        self.loaded = self.reserved > 0
        self.pending = self.pending and not self.loaded
        return {"command": ["kdump-config", "load"], "loaded": self.loaded}

    def rebuild_pending(self):
        return {"pending": self.pending, "reason": "config changed" if self.pending else None,
                "this_boot": self.pending}

    def request_rebuild(self, reason, test=False):
        changed = not self.pending
        self.pending = self.pending or not test
        return {"changed": changed}

    def estimate(self):
        return {"bytes": self.estimate_bytes, "method": "ratio", "mem_bytes": 4 * GIB, "dump_level": 31}

    def check_space(self, path=None, needed=None):
        needed = self.estimate_bytes if needed is None else needed
        if needed > self.free_bytes:
            raise CommandExecutionError(
                f"not enough space to save a vmcore: need {needed}, target has {self.free_bytes}")
        return {"path": path or "/var/crash", "free_bytes": self.free_bytes,
                "needed_bytes": needed, "ok": True, "checked": True}

    def status(self):
        problems = [("config_missing", problem) for problem in self.problems]
        if not self.active:
            problems.append(("service_stopped", "the kdump-tools service is not running"))
        if self.reboot_pending:
            problems.append(("reboot_pending", "reboot pending: the boot loader gives crashkernel=256M, the running kernel has none"))
        if self.reserved == 0:
            problems.append(("not_reserved", "no memory reserved for the crash kernel: crashkernel= is not on the running kernel's command line"))
        elif not self.loaded:
            problems.append(("not_loaded", "the crash kernel is not loaded: start the kdump service or run kdump.rebuild"))
        if self.pending:
            problems.append(("rebuild_pending", "the capture initrd is not rebuilt since config changed"))
        codes = [code for code, _ in problems]
        problems = [message for _, message in problems]
        return {"codes": codes, "os_family": "Debian", "service": "kdump-tools", "enabled": True, "active": self.active,
                "loaded": self.loaded, "reserved_bytes": self.reserved,
                "reboot_pending": self.reboot_pending, "target": {}, "free_bytes": self.free_bytes,
                "estimate_bytes": self.estimate_bytes, "ready": not problems, "problems": problems}


@pytest.fixture
def kdump():
    return FakeKdump()


@pytest.fixture
def opts(tmp_path):
    (tmp_path / "root").mkdir()
    return {"test": False, "cachedir": "/var/cache/salt/minion", "kdump_root": str(tmp_path / "root")}


@pytest.fixture
def configure_loader_modules(kdump, opts):
    salt = {f"kdump.{name}": getattr(kdump, name)
            for name in ("validate_pillar", "configure", "rebuild", "estimate", "check_space", "status",
                         "rebuild_pending", "request_rebuild")}
    salt["crashkernel.get"] = lambda: {"reserved_bytes": kdump.reserved}
    return {state: {"__salt__": salt, "__opts__": opts, "__grains__": {}}}


# --- validated ---------------------------------------------------------------------------


def test_validated_accepts_good_pillar_in_both_modes(opts):
    pillar = {"volume": {"vg": "rootvg", "lv": "crashlv", "size": "1000M"}}
    assert state.validated("p", pillar)["result"] is True
    opts["test"] = True
    ret = state.validated("p", pillar)
    assert ret["result"] is True and ret["changes"] == {}


def test_validated_without_config_validates_the_minions_own_pillar(monkeypatch):
    given = []
    monkeypatch.setitem(state.__salt__, "kdump.validate_pillar", lambda data=None: given.append(data) or {})
    assert state.validated("p")["result"] is True
    assert given == [None]


@pytest.mark.parametrize("test_mode", [False, True])
def test_validated_names_the_pillar_key(opts, test_mode):
    opts["test"] = test_mode
    ret = state.validated("p", {"settings": {"collector": {"dump_level": 40}}})
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"].startswith("kdump:settings:collector:dump_level:")
    assert state.validated("p", ["not", "a", "mapping"])["comment"].startswith("config:")


# --- space_checked -----------------------------------------------------------------------


def test_space_checked(kdump):
    ok = state.space_checked("s", path="/var/crash")
    assert ok["result"] is True and ok["changes"] == {}
    kdump.free_bytes = 100 * MIB
    bad = state.space_checked("s")
    assert bad["result"] is False and bad["changes"] == {}
    assert str(300 * MIB) in bad["comment"] and str(100 * MIB) in bad["comment"]
    assert state.space_checked("s", path="relative")["comment"].startswith("path:")


def test_space_checked_says_when_the_dump_directory_cannot_be_measured(monkeypatch):
    reason = "the dump device /dev/sdb1 is not mounted: kdump mounts it at dump time"
    monkeypatch.setitem(state.__salt__, "kdump.check_space", lambda path=None, needed=None: {
        "path": None, "free_bytes": None, "needed_bytes": 300 * MIB, "ok": True, "checked": False, "reason": reason})
    ret = state.space_checked("s")
    assert ret["result"] is True and ret["changes"] == {}
    assert ret["comment"] == f"Free space for a vmcore is not measured: {reason}."


# --- configured --------------------------------------------------------------------------


def test_configured_rebuilds_once_and_second_run_is_quiet(kdump, opts):
    kdump.reserved = 256 * MIB
    settings = {"collector": {"dump_level": 31}}
    opts["test"] = True
    predicted = state.configured("c", settings)
    assert predicted["result"] is None and kdump.settings == {} and kdump.rebuilds == 0
    opts["test"] = False
    ret = state.configured("c", settings)
    assert ret["result"] is True
    assert ret["changes"] == predicted["changes"]
    assert ret["changes"]["rebuilt"] is True and ret["changes"]["config"]["path"] == kdump.path
    assert "+[('collector'" in ret["changes"]["config"]["diff"]
    assert kdump.rebuilds == 1 and kdump.loaded
    again = state.configured("c", settings)
    assert again["changes"] == {} and kdump.rebuilds == 1
    assert not kdump.pending


def test_config_change_without_rebuild_is_impossible(kdump, opts):
    """The seed's bug: the config changed but the initrd was not rebuilt until someone touched
    the file. A run that changes the config and then fails to rebuild leaves a marker, and the
    next run rebuilds although the config file is already right."""
    kdump.reserved = 256 * MIB
    kdump.rebuild_fails = True
    first = state.configured("c", {"failure_action": "halt"})
    assert first["result"] is False and "mkinitramfs" in first["comment"]
    assert "config" in first["changes"] and "rebuilt" not in first["changes"]
    kdump.rebuild_fails = False
    opts["test"] = True
    predicted = state.configured("c", {"failure_action": "halt"})
    assert predicted["result"] is None and predicted["changes"] == {"rebuilt": True}
    opts["test"] = False
    second = state.configured("c", {"failure_action": "halt"})
    assert second["result"] is True and second["changes"] == {"rebuilt": True}
    assert "earlier run" in second["comment"] and kdump.rebuilds == 1
    third = state.configured("c", {"failure_action": "halt"})
    assert third["changes"] == {} and kdump.rebuilds == 1


def test_configured_without_reservation_defers_the_rebuild_to_after_the_reboot(kdump):
    ret = state.configured("c", {"failure_action": "halt"})
    assert ret["result"] is True and set(ret["changes"]) == {"config"} and kdump.rebuilds == 0
    assert "will load after the reboot" in ret["comment"]
    assert state.configured("c", {"failure_action": "halt"})["changes"] == {}
    kdump.reserved = 256 * MIB  # rebooted with the reservation
    after = state.configured("c", {"failure_action": "halt"})
    assert after["changes"] == {"rebuilt": True} and kdump.rebuilds == 1


def test_configured_bad_settings_fails_naming_the_argument(kdump):
    ret = state.configured("c", "dump_level=31")
    assert ret["result"] is False and ret["comment"].startswith("settings:") and kdump.settings == {}


def test_mod_watch_rebuilds_and_predicts(kdump, opts):
    kdump.reserved = 256 * MIB
    opts["test"] = True
    assert state.mod_watch("c", sfun="configured")["changes"] == {"rebuilt": True}
    assert kdump.rebuilds == 0
    opts["test"] = False
    ret = state.mod_watch("c", sfun="configured")
    assert ret["result"] is True and ret["changes"] == {"rebuilt": True} and kdump.rebuilds == 1


def test_mod_watch_without_reservation_rebuilds_on_the_next_run(kdump, opts):
    ret = state.mod_watch("c", sfun="configured")
    assert ret["result"] is True and ret["changes"] == {} and kdump.pending
    kdump.reserved = 256 * MIB
    assert state.configured("c", {})["changes"] == {"rebuilt": True}


# --- ready -------------------------------------------------------------------------------


def test_ready_loads_the_crash_kernel_when_reserved(kdump, opts):
    kdump.reserved = 256 * MIB
    opts["test"] = True
    predicted = state.ready("r")
    assert predicted["result"] is None and predicted["changes"] == {"loaded": {"old": False, "new": True}}
    assert kdump.rebuilds == 0
    opts["test"] = False
    ret = state.ready("r")
    assert ret["result"] is True and ret["changes"] == predicted["changes"] and kdump.loaded
    again = state.ready("r")
    assert again["changes"] == {} and again["result"] is True and kdump.rebuilds == 1


def test_ready_with_only_a_pending_reboot(kdump):
    kdump.reboot_pending = True
    warn = state.ready("r")
    assert warn["result"] is True and warn["comment"].startswith("reboot pending: ")
    assert state.ready("r", require_reboot="fail")["result"] is False


def test_ready_says_reboot_pending_once(kdump):
    kdump.reboot_pending = True
    comment = state.ready("r")["comment"]
    assert comment == (
        "reboot pending: the boot loader gives crashkernel=256M, the running kernel has none; "
        "no memory reserved for the crash kernel: crashkernel= is not on the running kernel's "
        "command line."
    )
    assert comment.count("reboot pending") == 1


def test_ready_a_service_that_waits_for_the_reservation_is_explained_by_the_reboot(kdump):
    """RedHat's kdumpctl and Suse's load.sh cannot start before the reboot: under warn the
    pending reboot is the reason, True; where the service could have started (Debian's
    kdump-tools), a stopped service is a real problem."""
    kdump.reboot_pending = True
    kdump.active = False
    waits = state.ready("r", service_starts_unreserved=False)
    assert waits["result"] is True, waits
    assert waits["comment"].startswith("reboot pending: the boot loader gives crashkernel=256M")
    assert waits["comment"].endswith("; the kdump-tools service is not running.")
    assert state.ready("r", require_reboot="fail", service_starts_unreserved=False)["result"] is False
    could_run = state.ready("r", service_starts_unreserved=True)
    assert could_run["result"] is False
    assert could_run["comment"].startswith("kdump is not ready: the kdump-tools service is not running")
    # Once memory is reserved, a stopped service is a problem on every family.
    kdump.reserved, kdump.loaded, kdump.reboot_pending = 256 * MIB, True, False
    assert state.ready("r", service_starts_unreserved=False)["result"] is False
    assert state.ready("r", service_starts_unreserved="no")["comment"].startswith("service_starts_unreserved:")


def test_ready_lists_other_problems(kdump):
    kdump.reboot_pending = True
    kdump.problems = ["kdump-tools is disabled"]
    ret = state.ready("r")
    assert ret["result"] is False and "kdump-tools is disabled" in ret["comment"]
    assert state.ready("r", require_reboot="never")["comment"].startswith("require_reboot:")


def test_ready_in_test_mode_reports_problems_as_a_prediction_not_a_failure(kdump, opts):
    # On a fresh box under test=True the package/config/service states have not acted yet.
    kdump.problems = ["kdump-tools is not installed"]
    opts["test"] = True
    ret = state.ready("r")
    assert ret["result"] is None and ret["changes"] == {}
    assert ret["comment"].startswith("kdump is not ready now: kdump-tools is not installed;")
    assert ret["comment"].endswith("Checked again on the real run, after the states before this one.")


def test_ready_decides_by_codes_not_by_the_wording(kdump):
    """A sentence that merely starts like a reboot problem is not explained by the reboot;
    a rebuild that waits for the reservation is."""
    kdump.reboot_pending = True
    kdump.problems = ["reboot pending is what this sentence says, but it is a missing config"]
    ret = state.ready("r")
    assert ret["result"] is False and ret["comment"].startswith("kdump is not ready: reboot pending is what")
    kdump.problems = []
    assert state.configured("c", {"failure_action": "halt"})["result"] is True
    assert kdump.pending and "rebuild_pending" in kdump.status()["codes"]
    waiting = state.ready("r")
    assert waiting["result"] is True and waiting["comment"].startswith("reboot pending: ")
    assert "the capture initrd is not rebuilt" in waiting["comment"]
