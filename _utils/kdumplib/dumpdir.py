"""Where the dumps of a kdump target land on this host, as the running system sees it.

One answer for every consumer: the space check (``kdump.check_space``, ``kdump.status``),
retention and the default of ``vmcore.list`` (through ``kdump.dump_dir``), and map.jinja.

* ``local``: the target path, on whatever filesystem holds it.
* ``device`` on RedHat: kdumpctl mounts the device and writes below its root, so ``path`` is
  relative to the device's filesystem: the dumps land at ``<device mountpoint>/<path>``
  (kdump.conf(5): "path ... Append path to the filesystem device which you are dumping to").
* ``device`` on Debian and Suse: kdump-tools and SUSE's kdump save into a directory of the
  running system (``KDUMP_COREDIR``, ``KDUMP_SAVEDIR=file://``) and mount nothing of their
  own, so the device must be mounted at the path (``kdump.validate_pillar`` demands the
  managed volume mounted at boot there): the dumps land at the path.
* ``nfs``, ``ssh``: on another host; ``raw``: a block device, no directory.

Free space is measurable only where the device is mounted: measuring the directory of an
unmounted device would measure the filesystem below the mountpoint (usually ``/``).
Pure code: no Salt, no I/O.
"""

import posixpath

from kdumplib import osfamily, schema


def _result(directory, measurable, reason, mountpoint=None):
    return {"dir": directory, "mountpoint": mountpoint, "measurable": measurable, "reason": reason}


def _mounted_at(names, mounts):
    """The mountpoint of the first mount whose device is one of ``names``."""
    for mountpoint, device in sorted((mounts or {}).items()):
        if device in names:
            return mountpoint
    return None


def needs_mounts(target):
    """True when ``locate`` reads ``mounts`` and ``aliases`` for ``target``: a device target
    only (a local path is where it is; remote and raw targets have no local directory)."""
    return isinstance(target, dict) and target.get("type") == "device"


def locate(os_family, target, volume=None, mounts=None, aliases=(), planned=False):
    """Where dumps of ``target`` land: ``{"dir", "mountpoint", "measurable", "reason"}``.

    :param os_family: ``RedHat``, ``Debian`` or ``Suse``.
    :param target: the ``kdump:settings:target`` mapping (type, device, path).
    :param volume: the ``kdump:volume`` mapping or None.
    :param mounts: ``{mountpoint: device}`` of the running system.
    :param aliases: other names of the target device (``/dev/mapper/...`` for ``UUID=...``).
    :param planned: answer for the system the formula is about to make: a device target that
        is the managed volume mounted at boot counts as mounted at the volume's mountpoint.
    ``dir`` is None when no local directory holds the dumps (remote, raw, an unmounted
    RedHat device, a Debian/Suse device not mounted at the path); ``measurable`` is True only when free space in ``dir`` is the dump
    filesystem's right now.
    """
    if not isinstance(target, dict):
        return _result(None, False, "no dump target is configured")
    kind = target.get("type") or "local"
    path = target.get("path") or "/var/crash"
    if not isinstance(path, str) or not path.startswith("/"):
        return _result(None, False, f"the target path {path!r} is not an absolute path")
    if kind == "local":
        return _result(path, True, f"a local target: dumps land in {path}")
    if kind in ("nfs", "ssh"):
        return _result(None, False, f"a {kind} target saves on another host: it cannot be measured from the minion")
    if kind == "raw":
        return _result(None, False, "a raw target is a block device, not a directory: it cannot be measured")
    if kind != "device":
        return _result(None, False, f"unknown target type {kind!r}")
    device = target.get("device")
    managed = isinstance(volume, dict) and device in schema.volume_devices(volume)
    names = {device, *aliases} | (set(schema.volume_devices(volume)) if managed else set())
    mounted = _mounted_at(names, mounts)
    expected = volume.get("mountpoint") if managed and volume.get("mount_at_boot") and planned else None
    if osfamily.family(os_family)["mounts_dump_device"]:
        mountpoint = mounted or expected
        if mountpoint is None:
            return _result(
                None, False,
                f"the dump device {device} is not mounted: kdump mounts it at dump time and "
                f"writes to {path} inside it; its free space cannot be measured now",
            )
        directory = posixpath.join(mountpoint, path.lstrip("/")).rstrip("/") or "/"
        return _result(
            directory, mounted is not None,
            f"dumps land in {path} of {device}, mounted at {mountpoint}", mountpoint,
        )
    if mounted == path:
        return _result(path, True, f"dumps land in {path}, on {device}", mounted)
    if expected == path:
        return _result(path, False, f"dumps land in {path}, where {device} is to be mounted", expected)
    where = f"at {mounted}" if mounted else "nowhere"
    return _result(
        None, False,
        f"the dump device {device} is not mounted at {path} (mounted {where}): the dumps would "
        "land on the filesystem below, so there is no dump directory to measure",
        mounted,
    )
