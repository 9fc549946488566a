"""kdumplib.dumpdir.locate: the one answer to "where do the dumps of this target land"."""

import pytest

from kdumplib import dumpdir

DEVICE = {"type": "device", "device": "/dev/mapper/rootvg-crashlv", "fstype": "ext4", "path": "/var/crash"}
VOLUME = {"vg": "rootvg", "lv": "crashlv", "mountpoint": "/var/crash", "mount_at_boot": True}


@pytest.mark.parametrize("family", ["RedHat", "Debian", "Suse"])
def test_a_local_target_lands_in_its_path(family):
    where = dumpdir.locate(family, {"type": "local", "path": "/srv/crash"}, mounts={})
    assert (where["dir"], where["measurable"]) == ("/srv/crash", True)


@pytest.mark.parametrize("kind", ["nfs", "ssh", "raw"])
def test_remote_and_raw_targets_have_no_local_directory(kind):
    where = dumpdir.locate("RedHat", {"type": kind, "path": "/var/crash"}, mounts={})
    assert where["dir"] is None and where["measurable"] is False and where["reason"]


def test_redhat_device_path_is_inside_the_mounted_device():
    where = dumpdir.locate("RedHat", DEVICE, mounts={"/": "/dev/vda1", "/srv/dumps": "/dev/mapper/rootvg-crashlv"})
    assert where == {
        "dir": "/srv/dumps/var/crash", "mountpoint": "/srv/dumps", "measurable": True,
        "reason": "dumps land in /var/crash of /dev/mapper/rootvg-crashlv, mounted at /srv/dumps",
    }
    # The managed volume is known by both its names.
    where = dumpdir.locate("RedHat", DEVICE, VOLUME, mounts={"/var/crash": "/dev/rootvg/crashlv"})
    assert where["dir"] == "/var/crash/var/crash" and where["measurable"] is True


def test_redhat_unmounted_device_cannot_be_measured_unless_the_run_mounts_it():
    where = dumpdir.locate("RedHat", DEVICE, VOLUME, mounts={"/": "/dev/vda1"})
    assert where["dir"] is None and where["measurable"] is False and "not mounted" in where["reason"]
    planned = dumpdir.locate("RedHat", DEVICE, VOLUME, mounts={"/": "/dev/vda1"}, planned=True)
    assert planned["dir"] == "/var/crash/var/crash" and planned["measurable"] is False
    # A volume left for kdump to mount (the seed) is not expected anywhere.
    seed = dumpdir.locate("RedHat", DEVICE, dict(VOLUME, mount_at_boot=False), mounts={}, planned=True)
    assert seed["dir"] is None


@pytest.mark.parametrize("family", ["Debian", "Suse"])
def test_debian_and_suse_device_must_be_mounted_at_the_path(family):
    mounted = dumpdir.locate(family, DEVICE, VOLUME, mounts={"/var/crash": "/dev/mapper/rootvg-crashlv"})
    assert (mounted["dir"], mounted["measurable"]) == ("/var/crash", True)
    elsewhere = dumpdir.locate(family, DEVICE, VOLUME, mounts={"/mnt": "/dev/mapper/rootvg-crashlv"})
    assert elsewhere["dir"] is None and "mounted at /mnt" in elsewhere["reason"]
    nowhere = dumpdir.locate(family, DEVICE, VOLUME, mounts={})
    assert nowhere["dir"] is None and "land on the filesystem below" in nowhere["reason"]
    planned = dumpdir.locate(family, DEVICE, VOLUME, mounts={}, planned=True)
    assert (planned["dir"], planned["measurable"]) == ("/var/crash", False)


def test_aliases_name_the_same_device():
    target = dict(DEVICE, device="UUID=0a1b")
    where = dumpdir.locate("RedHat", target, mounts={"/data": "/dev/sdb1"}, aliases=("/dev/sdb1",))
    assert where["dir"] == "/data/var/crash"


@pytest.mark.parametrize("target", [None, "local", {"type": "local", "path": 5}, {"type": "tape"}])
def test_garbage_never_raises(target):
    assert dumpdir.locate("RedHat", target, mounts={})["dir"] is None


@pytest.mark.parametrize("family", ["RedHat", "Debian", "Suse"])
@pytest.mark.parametrize("target", [
    {"type": "local", "path": "/var/crash"}, {"path": "/srv/dumps"},
    {"type": "nfs", "host": "dumps:/export", "path": "/var/crash"},
    {"type": "ssh", "host": "dumps", "path": "/var/crash"},
    {"type": "raw", "device": "/dev/vdc", "path": "/var/crash"}, None,
])
def test_only_a_device_target_reads_the_mounts(family, target):
    """kdump.dump_dir skips mount.active (a mount(8) run each) where needs_mounts is False."""
    assert dumpdir.needs_mounts(target) is False
    busy = {"/var/crash": "/dev/mapper/rootvg-crashlv", "/": "/dev/vda1"}
    for planned in (False, True):
        assert dumpdir.locate(family, target, VOLUME, mounts=busy, aliases=("/dev/dm-3",), planned=planned) \
            == dumpdir.locate(family, target, VOLUME, planned=planned)
    assert dumpdir.needs_mounts(DEVICE) is True
