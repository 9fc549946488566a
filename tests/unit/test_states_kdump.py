"""Unit tier: the kdump states over in-memory stand-ins of the kdump, crashkernel, lvm,
filesystem and mount modules (each keeps the state a real system would)."""

import os
import pathlib

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

    def validate_pillar(self, data):
        try:
            return schema.validate_pillar(data)
        except ValueError as exc:
            raise SaltInvocationError(str(exc)) from None

    def configure(self, settings, test=False):
        changed = settings != self.settings
        diff = f"-{sorted(self.settings.items())}\n+{sorted(settings.items())}\n" if changed else ""
        if changed and not test:
            self.settings = dict(settings)
        return {"path": self.path, "changed": changed, "diff": diff}

    def rebuild(self):
        if self.rebuild_fails:
            raise CommandExecutionError("kdump-config load failed: mkinitramfs: no space")
        self.rebuilds += 1
        self.loaded = self.reserved > 0
        return {"command": ["kdump-config", "load"], "loaded": self.loaded}

    def estimate(self):
        return {"bytes": self.estimate_bytes, "method": "ratio", "mem_bytes": 4 * GIB, "dump_level": 31}

    def check_space(self, path=None, needed=None):
        needed = self.estimate_bytes if needed is None else needed
        if needed > self.free_bytes:
            raise CommandExecutionError(
                f"not enough space to save a vmcore: need {needed}, target has {self.free_bytes}")
        return {"path": path or "/var/crash", "free_bytes": self.free_bytes,
                "needed_bytes": needed, "ok": True}

    def status(self):
        problems = list(self.problems)
        if not self.active:
            problems.append("the kdump-tools service is not running")
        if self.reboot_pending:
            problems.append("reboot pending: the boot loader gives crashkernel=256M, the running kernel has none")
        if self.reserved == 0:
            problems.append("no memory reserved for the crash kernel: crashkernel= is not on the running kernel's command line")
        elif not self.loaded:
            problems.append("the crash kernel is not loaded: start the kdump service or run kdump.rebuild")
        return {"os_family": "Debian", "service": "kdump-tools", "enabled": True, "active": self.active,
                "loaded": self.loaded, "reserved_bytes": self.reserved,
                "reboot_pending": self.reboot_pending, "target": {}, "free_bytes": self.free_bytes,
                "estimate_bytes": self.estimate_bytes, "ready": not problems, "problems": problems}


class FakeSystem:
    """LVM, blkid, mkfs, resize and mount: what Salt's modules would see and do."""

    def __init__(self):
        self.extent = 4 * MIB
        self.vg_extents = 1024  # 4 GiB
        self.lvs = {}  # device -> bytes
        self.fs = {}  # device -> fstype
        self.commands = []
        self.mounted = {}  # mountpoint -> device
        self.fstab = {}

    def used_extents(self):
        return sum(size // self.extent for size in self.lvs.values())

    def vgdisplay(self, vgname="", quiet=False):
        if vgname != "rootvg":
            return {}
        free = self.vg_extents - self.used_extents()
        return {"rootvg": {"Physical Extent Size (kB)": str(self.extent // 1024),
                           "Free Physical Extents": str(free), "Total Physical Extents": str(self.vg_extents)}}

    def lvdisplay(self, lvname="", quiet=False):
        if lvname not in self.lvs:
            return {}
        return {lvname: {"Logical Volume Name": lvname, "Logical Volume Size": str(self.lvs[lvname] // 512)}}

    @staticmethod
    def to_bytes(arg):
        units = {"b": 1, "K": 1 << 10, "M": MIB, "G": GIB, "T": 1 << 40}
        return int(arg[:-1]) * units[arg[-1]]

    def lvcreate(self, lvname, vgname, size=None, **kwargs):
        self.commands.append(["lvcreate", "-n", lvname, vgname, "-L", size])
        self.lvs[f"/dev/{vgname}/{lvname}"] = self.to_bytes(size)
        return {"Output from lvcreate": f'Logical volume "{lvname}" created.'}

    def lvresize(self, size=None, lvpath=None, **kwargs):
        self.commands.append(["lvresize", "-L", size, lvpath])
        self.lvs[lvpath] = self.to_bytes(size)
        return {"Output from lvresize": "ok"}

    def run_all(self, cmd, python_shell=True, ignore_retcode=False, **kwargs):
        assert python_shell is False and isinstance(cmd, list)
        self.commands.append(list(cmd))
        if cmd[0] == "blkid":
            fstype = self.fs.get(cmd[-1])
            return {"retcode": 0 if fstype else 2, "stdout": fstype or "", "stderr": ""}
        return {"retcode": 0, "stdout": "", "stderr": ""}

    def extfs_mkfs(self, device, fs_type, full_return=False, **kwargs):
        self.commands.append(["mke2fs", "-t", fs_type, device])
        self.fs[device] = fs_type
        return {"retcode": 0, "stdout": "", "stderr": ""}

    def xfs_mkfs(self, device, **kwargs):
        self.commands.append(["mkfs.xfs", device])
        self.fs[device] = "xfs"
        return {}

    def active(self):
        return {mp: {"device": dev} for mp, dev in self.mounted.items()}

    def mount_mounted(self, name, device, fstype, mkmnt=False, persist=True, config="/etc/fstab", **kw):
        ret = {"name": name, "result": True, "changes": {}, "comment": ""}
        if self.mounted.get(name) == device and self.fstab.get(name) == device:
            return ret
        if state.__opts__["test"]:
            ret["result"] = None
            return ret
        self.mounted[name] = self.fstab[name] = device
        ret["changes"] = {"mount": True, "persist": "new"}
        return ret


@pytest.fixture
def kdump():
    return FakeKdump()


@pytest.fixture
def system():
    return FakeSystem()


@pytest.fixture
def opts(tmp_path):
    (tmp_path / "root").mkdir()
    return {"test": False, "cachedir": "/var/cache/salt/minion", "kdump_root": str(tmp_path / "root")}


@pytest.fixture
def configure_loader_modules(kdump, system, opts):
    salt = {f"kdump.{name}": getattr(kdump, name)
            for name in ("validate_pillar", "configure", "rebuild", "estimate", "check_space", "status")}
    salt.update({
        "crashkernel.get": lambda: {"reserved_bytes": kdump.reserved},
        "crashkernel.mem_bytes": lambda: 4096 << 20,
        "lvm.vgdisplay": system.vgdisplay,
        "lvm.lvdisplay": system.lvdisplay,
        "lvm.lvcreate": system.lvcreate,
        "lvm.lvresize": system.lvresize,
        "cmd.run_all": system.run_all,
        "extfs.mkfs": system.extfs_mkfs,
        "xfs.mkfs": system.xfs_mkfs,
        "mount.active": system.active,
    })
    return {state: {"__salt__": salt, "__opts__": opts, "__grains__": {},
                    "__states__": {"mount.mounted": system.mount_mounted}}}


def marker(opts):
    return os.path.join(opts["kdump_root"], opts["cachedir"].lstrip("/"), state.REBUILD_MARKER)


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
    assert not os.path.exists(marker(opts))


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


def test_configured_keeps_the_distributions_file_once_for_clean(kdump, opts):
    """Before the first write the distribution's file is kept as .kdump-formula.orig (or, when
    there was none, .kdump-formula.created is marked); later writes never touch the copy."""
    root = pathlib.Path(opts["kdump_root"])
    config = root / kdump.path.lstrip("/")
    config.parent.mkdir(parents=True)
    config.write_text("USE_KDUMP=1\n")
    state.configured("c", {"collector": {"dump_level": 31}})
    config.write_text("USE_KDUMP=1\n# written by the formula\n")
    state.configured("c", {"collector": {"dump_level": 11}})
    assert (root / (kdump.path.lstrip("/") + ".kdump-formula.orig")).read_text() == "USE_KDUMP=1\n"
    assert not (root / (kdump.path.lstrip("/") + ".kdump-formula.created")).exists()
    kdump.path = "/etc/kdump.conf"
    state.configured("c", {"collector": {"dump_level": 1}})
    assert (root / "etc/kdump.conf.kdump-formula.created").read_text() == ""
    assert not (root / "etc/kdump.conf.kdump-formula.orig").exists()


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
    assert ret["result"] is True and ret["changes"] == {} and os.path.exists(marker(opts))
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


# --- dump_target -------------------------------------------------------------------------


def test_dump_target_creates_like_the_seed_kickstart(system, opts):
    args = {"vg": "rootvg", "lv": "crashlv", "size": "1000M", "fstype": "ext3"}
    opts["test"] = True
    predicted = state.dump_target("v", **args)
    assert predicted["result"] is None and system.lvs == {}
    assert [c[0] for c in system.commands] == []
    opts["test"] = False
    ret = state.dump_target("v", **args)
    assert ret["result"] is True
    assert ret["changes"] == predicted["changes"] == {
        "lv": {"old": None, "new": "1000M"}, "filesystem": {"old": None, "new": "ext3"}}
    assert ["lvcreate", "-n", "crashlv", "rootvg", "-L", "1000M"] in system.commands
    assert ["mke2fs", "-t", "ext3", "/dev/rootvg/crashlv"] in system.commands
    assert system.mounted == {}  # left for kdump to mount, as the seed does
    system.commands.clear()
    again = state.dump_target("v", **args)
    assert again["changes"] == {} and again["result"] is True
    assert [c[0] for c in system.commands] == ["blkid"]


def test_dump_target_grows_lv_and_filesystem_never_shrinks(system):
    system.lvs["/dev/rootvg/crashlv"] = 512 * MIB
    system.fs["/dev/rootvg/crashlv"] = "ext4"
    ret = state.dump_target("v", vg="rootvg", lv="crashlv", size="1G")
    assert ret["changes"] == {"lv": {"old": "512M", "new": "1G"},
                              "filesystem": {"old": "ext4", "new": "ext4 grown to 1G"}}
    assert ["e2fsck", "-f", "-p", "/dev/rootvg/crashlv"] in system.commands
    assert system.commands[-1] == ["resize2fs", "/dev/rootvg/crashlv"]
    smaller = state.dump_target("v", vg="rootvg", lv="crashlv", size="600M")
    assert smaller["result"] is True and smaller["changes"] == {}
    assert "larger than the 600M asked; left as is" in smaller["comment"]
    assert system.lvs["/dev/rootvg/crashlv"] == GIB


def test_dump_target_grows_mounted_xfs_online(system):
    system.lvs["/dev/rootvg/crashlv"] = 512 * MIB
    system.fs["/dev/rootvg/crashlv"] = "xfs"
    system.mounted["/var/crash"] = "/dev/mapper/rootvg-crashlv"
    ret = state.dump_target("v", vg="rootvg", lv="crashlv", size="1G", fstype="xfs")
    assert ret["result"] is True and system.commands[-1] == ["xfs_growfs", "/var/crash"]


def test_dump_target_never_formats_an_existing_filesystem(system):
    system.lvs["/dev/rootvg/crashlv"] = 512 * MIB
    system.fs["/dev/rootvg/crashlv"] = "xfs"
    ret = state.dump_target("v", vg="rootvg", lv="crashlv", size="1G", fstype="ext4")
    assert ret["result"] is False and ret["changes"] == {}
    assert "already has xfs, not ext4" in ret["comment"]
    assert system.lvs["/dev/rootvg/crashlv"] == 512 * MIB
    assert [c[0] for c in system.commands] == ["blkid"]


def test_dump_target_fails_before_any_change_when_the_vg_is_full(system):
    ret = state.dump_target("v", vg="rootvg", lv="crashlv", size="5G")
    assert ret["result"] is False and ret["changes"] == {} and system.lvs == {}
    assert ret["comment"].startswith("vg: rootvg has 4294967296 bytes (4G) free")
    assert "needs 5368709120 more bytes" in ret["comment"]


def test_dump_target_without_lvm_tools_names_the_key_and_changes_nothing(system):
    # Salt loads its lvm module only where lvm2 is installed: a clear error, not a KeyError.
    lvm = {name: state.__salt__.pop(name) for name in list(state.__salt__) if name.startswith("lvm.")}
    try:
        ret = state.dump_target("v", vg="rootvg", lv="crashlv", size="1G")
    finally:
        state.__salt__.update(lvm)
    assert ret["result"] is False and ret["changes"] == {} and system.lvs == {}
    assert ret["comment"].startswith("vg: Salt's lvm module is not available")
    assert "install lvm2" in ret["comment"]


def test_dump_target_errors_name_the_pillar_key_when_given(system):
    """The formula passes pillar_key=kdump:volume: the user reads which pillar key to fix."""
    lvm = {name: state.__salt__.pop(name) for name in list(state.__salt__) if name.startswith("lvm.")}
    try:
        ret = state.dump_target("v", vg="rootvg", lv="crashlv", size="1G", pillar_key="kdump:volume")
    finally:
        state.__salt__.update(lvm)
    assert ret["result"] is False
    assert ret["comment"].startswith("kdump:volume:vg: Salt's lvm module is not available")
    ret = state.dump_target("v", vg="othervg", lv="crashlv", size="1G", pillar_key="kdump:volume")
    assert ret["comment"].startswith("kdump:volume:vg: volume group 'othervg' does not exist")
    ret = state.dump_target("v", vg="rootvg", lv="crashlv", size="1000", pillar_key="kdump:volume")
    assert ret["comment"].startswith("kdump:volume:size: ")
    assert system.lvs == {}


def test_dump_target_dry_run_before_lvm2_is_installed(system, opts):
    """A first dry run: the package state would install lvm2, so the volume group cannot be
    read yet. A prediction (None), not a failure; nothing changed."""
    lvm = {name: state.__salt__.pop(name) for name in list(state.__salt__) if name.startswith("lvm.")}
    opts["test"] = True
    try:
        ret = state.dump_target("v", vg="rootvg", lv="crashlv", size="auto", pillar_key="kdump:volume")
    finally:
        state.__salt__.update(lvm)
    assert ret["result"] is None and ret["changes"] == {} and system.lvs == {}
    assert "the package state installs lvm2" in ret["comment"]
    assert "rootvg/crashlv (auto, ext4)" in ret["comment"]


def test_dump_target_auto_and_percent_of_ram_round_up_to_extents(system, kdump):
    kdump.estimate_bytes = 301 * MIB  # + 25 % = 376.25 MiB -> 95 extents of 4 MiB
    ret = state.dump_target("v", vg="rootvg", lv="auto", size="auto")
    assert ret["changes"]["lv"] == {"old": None, "new": "380M"}
    ret = state.dump_target("v", vg="rootvg", lv="ram", size="10%RAM")  # of 4096 MiB
    assert ret["changes"]["lv"] == {"old": None, "new": "412M"}


def test_dump_target_mounts_at_boot_through_salts_mount_state(system, opts):
    args = {"vg": "rootvg", "lv": "crashlv", "size": "1G", "mountpoint": "/var/crash",
            "mount_at_boot": True}
    opts["test"] = True
    predicted = state.dump_target("v", **args)
    opts["test"] = False
    ret = state.dump_target("v", **args)
    assert ret["changes"] == predicted["changes"]
    assert ret["changes"]["mount"]["new"] == "/dev/rootvg/crashlv on /var/crash (ext4, fstab)"
    rooted = os.path.join(opts["kdump_root"], "var/crash")
    assert system.fstab == {rooted: "/dev/rootvg/crashlv"}
    assert state.dump_target("v", **args)["changes"] == {}


@pytest.mark.parametrize(
    "kwargs, starts",
    [
        ({"vg": "root vg"}, "vg:"),
        ({"vg": "othervg"}, "vg: volume group 'othervg' does not exist"),
        ({"lv": "-x"}, "lv:"),
        ({"size": "1000"}, "size:"),
        ({"size": "lots"}, "size:"),
        ({"fstype": "btrfs"}, "fstype:"),
        ({"mountpoint": "var/crash"}, "mountpoint:"),
        ({"mount_at_boot": "yes"}, "mount_at_boot:"),
        ({"mount_at_boot": True}, "mountpoint: required"),
    ],
)
def test_dump_target_bad_arguments(system, kwargs, starts):
    args = {"vg": "rootvg", "lv": "crashlv", "size": "1G", **kwargs}
    ret = state.dump_target("v", **args)
    assert ret["result"] is False and ret["comment"].startswith(starts) and system.lvs == {}
