"""Unit tier: the dump volume. ``kdump.volume_info``/``kdump.dump_volume`` (the execution
module does every command) and the thin ``kdump.dump_target`` state over them, with in-memory
lvm, blkid, filesystem and mount modules that keep the state a real system would."""

import contextlib
import os

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from _modules import kdump as module
from _states import kdump as state

MIB = 1 << 20
GIB = 1 << 30
ESTIMATE = {"bytes": 300 * MIB}


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
        self.blkid_retcode = None
        self.mkfs_fails = False

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
        if cmd[0] == "blkid" and self.blkid_retcode is not None:
            return {"retcode": self.blkid_retcode, "stdout": "", "stderr": "blkid: cannot open device"}
        if cmd[0] == "blkid":
            fstype = self.fs.get(cmd[-1])
            return {"retcode": 0 if fstype else 2, "stdout": fstype or "", "stderr": ""}
        return {"retcode": 0, "stdout": "", "stderr": ""}

    def extfs_mkfs(self, device, fs_type, full_return=False, **kwargs):
        self.commands.append(["mke2fs", "-t", fs_type, device])
        if self.mkfs_fails:
            return {"retcode": 1, "stdout": "", "stderr": "mke2fs: Device size reported to be zero"}
        self.fs[device] = fs_type
        return {"retcode": 0, "stdout": "", "stderr": ""}

    def xfs_mkfs(self, device, **kwargs):
        self.commands.append(["mkfs.xfs", device])
        self.fs[device] = "xfs"
        return {}

    def active(self):
        return {mp: {"device": dev} for mp, dev in self.mounted.items()}

    def set_fstab(self, name, device, fstype, config="/etc/fstab", test=False, **kwargs):
        if self.fstab.get(name) == device:
            return "present"
        if not test:
            self.fstab[name] = device
        return "new"

    def mount(self, name, device, mkmnt=False, fstype="", **kwargs):
        self.commands.append(["mount", device, name])
        self.mounted[name] = device
        return True

    def umount(self, name, device=None, **kwargs):
        self.commands.append(["umount", name])
        self.mounted.pop(name, None)
        return True


@contextlib.contextmanager
def without_lvm():
    """Salt loads its lvm module only where lvm2 is installed: take it away for a while."""
    lvm = {name: module.__salt__.pop(name) for name in list(module.__salt__) if name.startswith("lvm.")}
    try:
        yield
    finally:
        module.__salt__.update(lvm)


@pytest.fixture
def system():
    return FakeSystem()


@pytest.fixture
def opts(tmp_path):
    (tmp_path / "root").mkdir()
    return {"test": False, "cachedir": "/var/cache/salt/minion", "kdump_root": str(tmp_path / "root")}


@pytest.fixture
def configure_loader_modules(system, opts, monkeypatch):
    lvm = {
        "crashkernel.mem_bytes": lambda: 4096 << 20,
        "lvm.vgdisplay": system.vgdisplay,
        "lvm.lvdisplay": system.lvdisplay,
        "lvm.lvcreate": system.lvcreate,
        "lvm.lvresize": system.lvresize,
        "cmd.run_all": system.run_all,
        "extfs.mkfs": system.extfs_mkfs,
        "xfs.mkfs": system.xfs_mkfs,
        "mount.active": system.active,
        "mount.set_fstab": system.set_fstab,
        "mount.mount": system.mount,
        "mount.umount": system.umount,
    }
    # size: auto reads the module's own estimate.
    monkeypatch.setattr(module, "estimate", lambda *args, **kwargs: dict(ESTIMATE))
    salt = {"kdump.dump_volume": module.dump_volume, "kdump.status": lambda: {}}
    return {state: {"__salt__": salt, "__opts__": opts, "__grains__": {}},
            module: {"__salt__": lvm, "__opts__": opts, "__grains__": {}}}


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
    with without_lvm():
        ret = state.dump_target("v", vg="rootvg", lv="crashlv", size="1G")
    assert ret["result"] is False and ret["changes"] == {} and system.lvs == {}
    assert ret["comment"].startswith("vg: Salt's lvm module is not available")
    assert "install lvm2" in ret["comment"]


def test_dump_target_errors_name_the_pillar_key_when_given(system):
    """The formula passes pillar_key=kdump:volume: the user reads which pillar key to fix."""
    with without_lvm():
        ret = state.dump_target("v", vg="rootvg", lv="crashlv", size="1G", pillar_key="kdump:volume")
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
    opts["test"] = True
    with without_lvm():
        ret = state.dump_target("v", vg="rootvg", lv="crashlv", size="auto", pillar_key="kdump:volume")
    assert ret["result"] is None and ret["changes"] == {} and system.lvs == {}
    assert "the package state installs lvm2" in ret["comment"]
    assert "rootvg/crashlv (auto, ext4)" in ret["comment"]


def test_dump_target_auto_and_percent_of_ram_round_up_to_extents(system, monkeypatch):
    monkeypatch.setitem(ESTIMATE, "bytes", 301 * MIB)  # + 25 % = 376.25 MiB -> 95 extents of 4 MiB
    ret = state.dump_target("v", vg="rootvg", lv="auto", size="auto")
    assert ret["changes"]["lv"] == {"old": None, "new": "380M"}
    ret = state.dump_target("v", vg="rootvg", lv="ram", size="10%RAM")  # of 4096 MiB
    assert ret["changes"]["lv"] == {"old": None, "new": "412M"}
    # room for the dumps retention keeps and the next: 4 × 301 MiB + 25 % = 1505 MiB
    ret = state.dump_target("v", vg="rootvg", lv="kept", size="auto", dumps=4)
    assert ret["changes"]["lv"] == {"old": None, "new": "1508M"}


def test_an_auto_volume_follows_a_rising_estimate_only_past_half_its_margin(system, monkeypatch):
    """A fleet guest's auto LV grew 708M -> 716M on every run as memory use moved the estimate:
    within half the margin it stays; beyond, it grows to the full margin again."""
    made = state.dump_target("v", vg="rootvg", lv="crashlv", size="auto")  # 300M + 25 % = 376M
    assert made["changes"]["lv"] == {"old": None, "new": "376M"}
    monkeypatch.setitem(ESTIMATE, "bytes", 310 * MIB)  # 388M wanted, grown below 349M
    system.commands.clear()
    kept = state.dump_target("v", vg="rootvg", lv="crashlv", size="auto")
    assert kept["result"] is True and kept["changes"] == {}, kept
    assert "under the 388M an auto size would create" in kept["comment"]
    assert not [c for c in system.commands if c[0] in ("lvresize", "resize2fs", "e2fsck")]
    monkeypatch.setitem(ESTIMATE, "bytes", 340 * MIB)  # needs 340M + 37M: over the 376M there
    grown = state.dump_target("v", vg="rootvg", lv="crashlv", size="auto")
    assert grown["changes"]["lv"] == {"old": "376M", "new": "428M"}
    assert system.lvs["/dev/rootvg/crashlv"] == 428 * MIB


def test_dump_target_mounts_at_boot_through_salts_mount_functions(system, opts):
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
        ({"dumps": 0}, "dumps:"),
    ],
)
def test_dump_target_bad_arguments(system, kwargs, starts):
    args = {"vg": "rootvg", "lv": "crashlv", "size": "1G", **kwargs}
    ret = state.dump_target("v", **args)
    assert ret["result"] is False and ret["comment"].startswith(starts) and system.lvs == {}


# --- the execution module: kdump.volume_info / kdump.dump_volume -------------------------


def test_volume_info_reads_lvm_blkid_and_mounts(system):
    assert module.volume_info("rootvg", "crashlv") == {
        "device": "/dev/rootvg/crashlv", "extent_bytes": 4 * MIB, "vg_free_bytes": 4 * GIB,
        "size_bytes": None, "fstype": None, "mountpoint": None}
    assert system.commands == []  # no LV: nothing to probe
    system.lvs["/dev/rootvg/crashlv"] = GIB
    system.fs["/dev/rootvg/crashlv"] = "xfs"
    system.mounted["/var/crash"] = "/dev/mapper/rootvg-crashlv"
    info = module.volume_info("rootvg", "crashlv")
    assert (info["size_bytes"], info["fstype"], info["mountpoint"]) == (GIB, "xfs", "/var/crash")
    assert info["vg_free_bytes"] == 3 * GIB
    assert system.commands == [["blkid", "-p", "-o", "value", "-s", "TYPE", "/dev/rootvg/crashlv"]]
    with pytest.raises(SaltInvocationError, match="^vg: volume group 'othervg' does not exist"):
        module.volume_info("othervg", "crashlv")
    with pytest.raises(SaltInvocationError, match="^lv: "):
        module.volume_info("rootvg", "-x")


def test_dump_volume_predicts_what_it_then_does(system, opts):
    args = {"vg": "rootvg", "lv": "crashlv", "size": "1G", "mountpoint": "/var/crash", "mount_at_boot": True}
    predicted = module.dump_volume(test=True, **args)
    assert system.lvs == {} and system.fstab == {} and system.mounted == {}
    done = module.dump_volume(**args)
    assert done == predicted
    assert done["changed"] is True and set(done["changes"]) == {"lv", "filesystem", "mount"}
    assert done["size_bytes"] == GIB and done["checked"] is True and done["notes"] == []
    rooted = os.path.join(opts["kdump_root"], "var/crash")
    assert system.mounted == {rooted: "/dev/rootvg/crashlv"}
    again = module.dump_volume(**args)
    assert again["changed"] is False and again["changes"] == {}


def test_dump_volume_never_reformats_and_says_when_blkid_fails(system):
    system.lvs["/dev/rootvg/crashlv"] = 512 * MIB
    system.blkid_retcode = 4  # blkid failed: not "no signature", so never mkfs
    with pytest.raises(CommandExecutionError, match="blkid: cannot open device"):
        module.dump_volume("rootvg", "crashlv", "1G")
    assert system.lvs["/dev/rootvg/crashlv"] == 512 * MIB
    assert not any(cmd[0] in ("lvresize", "mke2fs", "resize2fs") for cmd in system.commands)


def test_dump_volume_grows_an_unmounted_xfs_in_a_temporary_mount(system):
    system.lvs["/dev/rootvg/crashlv"] = 512 * MIB
    system.fs["/dev/rootvg/crashlv"] = "xfs"
    done = module.dump_volume("rootvg", "crashlv", "1G", fstype="xfs")
    assert done["changes"]["filesystem"] == {"old": "xfs", "new": "xfs grown to 1G"}
    mount, grow, umount = system.commands[-3:]
    assert mount[:2] == ["mount", "/dev/rootvg/crashlv"] and mount[2].startswith("/tmp")
    assert grow == ["xfs_growfs", mount[2]] and umount == ["umount", mount[2]]
    assert not os.path.exists(mount[2]) and system.mounted == {}


def test_dump_volume_says_how_far_it_got_when_a_tool_fails(system):
    system.mkfs_fails = True
    with pytest.raises(CommandExecutionError) as error:
        module.dump_volume("rootvg", "crashlv", "1G")
    assert str(error.value).startswith("mke2fs -t ext4 /dev/rootvg/crashlv failed: mke2fs: Device size")
    assert str(error.value).endswith("(planned: filesystem, lv; stopped there)")
    assert system.lvs == {"/dev/rootvg/crashlv": GIB}


def test_dump_volume_before_lvm2_is_installed(system):
    with without_lvm():
        predicted = module.dump_volume("rootvg", "crashlv", "auto", test=True)
        with pytest.raises(CommandExecutionError, match="^vg: Salt's lvm module is not available"):
            module.dump_volume("rootvg", "crashlv", "auto")
    assert predicted["checked"] is False and predicted["changed"] is None and predicted["changes"] == {}
    assert "the package state installs lvm2" in predicted["reason"]


def test_dump_volume_predicts_the_fstab_entry_where_there_is_no_fstab_yet(system, monkeypatch):
    """A dry run on a bare root: Salt's set_fstab raises for a missing file, the prediction
    is "a new entry"."""
    def refuses(name, device, fstype, config="/etc/fstab", test=False, **kwargs):
        raise CommandExecutionError(f'Bad config file "{config}"')

    monkeypatch.setitem(module.__salt__, "mount.set_fstab", refuses)
    predicted = module.dump_volume("rootvg", "crashlv", "1G", mountpoint="/var/crash", mount_at_boot=True, test=True)
    assert predicted["changes"]["mount"] == {"old": None, "new": "/dev/rootvg/crashlv on /var/crash (ext4, fstab)"}
    with pytest.raises(CommandExecutionError, match="Bad config file"):
        module.dump_volume("rootvg", "crashlv", "1G", mountpoint="/var/crash", mount_at_boot=True)
