"""
Declare kdump: a checked pillar, a dump volume, the configuration with its capture initrd, room
for a dump, and a loaded crash kernel.

The real work is in the ``kdump`` execution module and in Salt's own ``lvm``, ``extfs``/``xfs``
and ``mount`` modules and states; these states compare, predict under ``test=True``, change and
verify. A second run with the same arguments changes nothing and rebuilds nothing.

.. code-block:: yaml

    kdump-pillar:
      kdump.validated:
        - config: {{ salt['pillar.get']('kdump', {}) | json }}

    kdump-config:
      kdump.configured:
        - settings: {{ salt['pillar.get']('kdump:settings', {}) | json }}
        - require:
          - kdump: kdump-pillar

    kdump-ready:
      kdump.ready:
        - require:
          - kdump: kdump-config
"""

import os
import tempfile

import salt.utils.platform
from salt.exceptions import CommandExecutionError, SaltInvocationError

from kdumplib import dumpvolume, files, sizes
from kdumplib import commands
from kdumplib.schema import REQUIRE_REBOOT

__virtualname__ = "kdump"

# Written before the config file changes, removed once the crash kernel was rebuilt and
# loaded: a run that dies in between (or a host without the reservation yet) leaves it, and the
# next run rebuilds even though the config file is already right. This is what makes the seed's
# "config changed, initrd not rebuilt until touch /etc/kdump.conf" impossible.
REBUILD_MARKER = "kdump-formula/rebuild-pending"
# Next to the config file, written once before the formula first changes it: what kdump.clean
# gives back (the distribution's file, or no file).
ORIGINAL = ".kdump-formula.orig"
CREATED = ".kdump-formula.created"


def __virtual__():
    if not salt.utils.platform.is_linux():
        return (False, "kdump states: kdump exists only on Linux")
    if "kdump.status" not in __salt__:
        return (False, "kdump states: the kdump execution module is not loaded")
    return __virtualname__


def _ret(name):
    return {"name": name, "result": True, "changes": {}, "comment": ""}


def _run_state(core, name, *args):
    """Run ``core``; module errors become ``result=False`` with the message as comment."""
    ret = _ret(name)
    try:
        return core(ret, *args)
    except (SaltInvocationError, CommandExecutionError) as exc:
        ret["result"] = False
        ret["comment"] = " ".join(filter(None, [ret["comment"], str(exc)]))
        return ret


def _root():
    return files.root_of(__opts__)


def _marker_path():
    return files.rooted(_root(), os.path.join(__opts__["cachedir"], REBUILD_MARKER))


def _rebuild_pending():
    return os.path.exists(_marker_path())


def _mark_rebuild(reason):
    path = os.path.join(__opts__["cachedir"], REBUILD_MARKER)
    files.write_text_atomic(_root(), path, reason + "\n", backup_suffix=None)


def _clear_rebuild():
    try:
        os.remove(_marker_path())
    except FileNotFoundError:
        pass


def _reserved():
    return __salt__["crashkernel.get"]()["reserved_bytes"] > 0


def _rebuild_and_verify():
    """Rebuild the capture initrd, (re)load the crash kernel, and insist it is loaded."""
    result = __salt__["kdump.rebuild"]()
    if not result.get("loaded"):
        raise CommandExecutionError(
            f"{' '.join(result.get('command') or ['kdump.rebuild'])} finished but the crash "
            "kernel is not loaded"
        )
    _clear_rebuild()
    return result


# --- kdump.validated ---------------------------------------------------------------------


def _validated(ret, config):
    if config is not None and not isinstance(config, dict):
        raise SaltInvocationError(f"config: {type(config).__name__} given, expected the kdump: mapping")
    # None: kdump.validate_pillar reads this minion's own kdump pillar.
    __salt__["kdump.validate_pillar"](config)
    ret["comment"] = "The kdump pillar is valid."
    return ret


def validated(name, config=None):
    """
    Check the whole ``kdump:`` pillar before anything changes, so later states can require it.

    :param str name: the state ID.
    :param dict config: the ``kdump:`` pillar mapping; default: this minion's own ``kdump``
        pillar.

    Never changes anything; under ``test=True`` it gives the same verdict (False on bad
    pillar, with every error in the comment, one line each, starting with its pillar key).

    .. code-block:: yaml

        kdump-pillar:
          kdump.validated:
            - config: {{ salt['pillar.get']('kdump', {}) | json }}
    """
    return _run_state(_validated, name, config)


# --- kdump.space_checked -----------------------------------------------------------------


def _space_checked(ret, path):
    if path is not None and (not isinstance(path, str) or not path.startswith("/")):
        raise SaltInvocationError(f"path: {path!r} must be an absolute directory")
    try:
        result = __salt__["kdump.check_space"](path=path)
    except CommandExecutionError as exc:
        raise CommandExecutionError(f"kdump.space_checked: {exc}") from None
    free, needed = result["free_bytes"], result["needed_bytes"]
    where = result.get("path") or path
    if not result.get("checked", True):
        ret["comment"] = f"Free space for a vmcore is not measured: {result.get('reason')}."
        return ret
    if not result.get("ok", True):
        ret["result"] = False
        ret["comment"] = (
            f"not enough space to save a vmcore in {where}: estimate {sizes.format_size(needed)} "
            f"({needed} bytes), free {sizes.format_size(free)} ({free} bytes)."
        )
        return ret
    ret["comment"] = f"A vmcore fits in {where}: estimate {needed} bytes, free {free} bytes."
    return ret


def space_checked(name, path=None):
    """
    Fail before a crash whose dump could not be saved: compare the dump estimate with free space.

    :param str name: the state ID.
    :param str path: the dump directory; default where the dumps land (``kdump.dump_dir``).
        A target that cannot be measured from the minion (remote, raw, a device that is not
        mounted) passes with a comment saying so.

    Never changes anything; ``test=True`` gives the same verdict.

    .. code-block:: yaml

        kdump-space:
          kdump.space_checked:
            - path: /var/crash
    """
    return _run_state(_space_checked, name, path)


# --- kdump.configured + mod_watch ---------------------------------------------------------


def _configured(ret, settings):
    if not isinstance(settings, dict):
        raise SaltInvocationError(f"settings: {type(settings).__name__} given, expected a mapping")
    predicted = __salt__["kdump.configure"](settings, test=True)
    leftover = _rebuild_pending()
    if not predicted["changed"] and not leftover:
        ret["comment"] = f"{predicted['path']} is already configured."
        return ret
    reserved = _reserved()
    if not predicted["changed"] and not reserved:
        ret["comment"] = (
            f"{predicted['path']} is already configured; the capture initrd is rebuilt once the "
            "crashkernel reservation exists (after the reboot)."
        )
        return ret

    if predicted["changed"]:
        ret["changes"]["config"] = {"path": predicted["path"], "diff": predicted["diff"]}
    if reserved:
        ret["changes"]["rebuilt"] = True
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = _configured_comment(predicted, reserved, leftover, would=True)
        return ret

    if predicted["changed"]:
        _mark_rebuild(f"config {predicted['path']} changed")
        _keep_original(predicted["path"])
        written = __salt__["kdump.configure"](settings, test=False)
        ret["changes"]["config"] = {"path": written["path"], "diff": written["diff"]}
    if reserved:
        ret["changes"].pop("rebuilt")
        _rebuild_and_verify()
        ret["changes"]["rebuilt"] = True
    ret["comment"] = _configured_comment(predicted, reserved, leftover, would=False)
    return ret


def _keep_original(path):
    """Before the formula first writes the config file, keep what the distribution had, for
    kdump.clean: the file as ``<path>.kdump-formula.orig``, or, when there was none, an empty
    ``<path>.kdump-formula.created`` (clean then removes the file)."""
    root = _root()
    if any(os.path.exists(files.rooted(root, path + suffix)) for suffix in (ORIGINAL, CREATED)):
        return
    text = files.read_text(root, path)
    if text is None:
        files.write_text_atomic(root, path + CREATED, "", backup_suffix=None)
    else:
        files.write_text_atomic(root, path + ORIGINAL, text, backup_suffix=None)


def _configured_comment(predicted, reserved, leftover, would):
    verb = "would be" if would else "was"
    parts = []
    if predicted["changed"]:
        parts.append(f"{predicted['path']} {verb} updated")
    elif leftover:
        parts.append(f"{predicted['path']} was changed by an earlier run that did not rebuild")
    if reserved:
        parts.append(f"the capture initrd {verb} rebuilt and the crash kernel loaded")
    else:
        parts.append("no crashkernel reservation yet: the crash kernel will load after the reboot")
    return "; ".join(parts) + "."


def configured(name, settings):
    """
    Write the neutral kdump settings into the OS's config file and rebuild the capture initrd
    when it changed, so the crash kernel always runs the configuration on disk.

    :param str name: the state ID.
    :param dict settings: the neutral settings (pillar ``kdump:settings``).

    On a change the capture initrd is rebuilt and the crash kernel reloaded (when the
    crashkernel reservation exists) and verified loaded. A second run with the same settings
    changes and rebuilds nothing. ``test=True`` predicts ``{"config": {"path", "diff"},
    "rebuilt": True}``. Other states can ``watch`` this one (``mod_watch`` rebuilds).

    .. code-block:: yaml

        kdump-config:
          kdump.configured:
            - settings:
                target: {type: local, path: /var/crash}
                collector: {dump_level: 31, compression: zstd}
            - watch:
              - pkg: kdump-packages
    """
    return _run_state(_configured, name, settings)


def _watched(ret):
    reserved = _reserved()
    if not reserved:
        if not __opts__["test"]:
            _mark_rebuild("a watched state changed")
        ret["comment"] = (
            "No crashkernel reservation yet: the capture initrd is rebuilt and loaded after the reboot."
        )
        return ret
    ret["changes"] = {"rebuilt": True}
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = "A watched state changed: the capture initrd would be rebuilt."
        return ret
    ret["changes"] = {}
    _rebuild_and_verify()
    ret["changes"] = {"rebuilt": True}
    ret["comment"] = "A watched state changed: the capture initrd was rebuilt and the crash kernel loaded."
    return ret


def mod_watch(name, **kwargs):  # pylint: disable=unused-argument
    """
    Rebuild the capture initrd when a watched state (a package, a hook script) changed.

    :param str name: the state ID.

    .. code-block:: yaml

        kdump-config:
          kdump.configured:
            - settings: {}
            - watch:
              - file: /usr/local/sbin/kdump-pre
    """
    return _run_state(_watched, name)


# --- kdump.ready -------------------------------------------------------------------------

# kdump.status problems that a pending reboot explains: the new reservation is not in the
# running kernel yet, so nothing is reserved and nothing can be loaded.
_REBOOT_PROBLEMS = ("reboot pending", "no memory reserved for the crash kernel", "the crash kernel is not loaded")


def _reboot_related(problem):
    return problem.lower().startswith(_REBOOT_PROBLEMS)


def _explained_by_reboot(status, service_starts_unreserved):
    """The problems a pending reboot explains: the reservation is not in the running kernel
    yet, so nothing is reserved or loaded, and a service that cannot start without a
    reservation is not running."""
    idle = f"the {status['service']} service is not running"
    waiting = status["reserved_bytes"] == 0 and not service_starts_unreserved

    def explained(problem):
        return _reboot_related(problem) or (waiting and problem == idle)

    return explained


def _reboot_comment(problems):
    """``reboot pending: <why>; <what waits for it>``, saying "reboot pending" once."""
    reasons = []
    for problem in sorted(problems, key=lambda problem: not _reboot_related(problem)):
        text = problem[len("reboot pending"):].lstrip(":; ") if problem.lower().startswith("reboot pending") else problem
        reasons.append(text)
    return "reboot pending: " + "; ".join(reasons) + "."


def _ready(ret, require_reboot, service_starts_unreserved):
    if require_reboot not in REQUIRE_REBOOT:
        raise SaltInvocationError(
            f"require_reboot: {require_reboot!r} must be one of {', '.join(REQUIRE_REBOOT)}"
        )
    if not isinstance(service_starts_unreserved, bool):
        raise SaltInvocationError(
            f"service_starts_unreserved: {service_starts_unreserved!r} must be true or false"
        )
    status = __salt__["kdump.status"]()
    explained = _explained_by_reboot(status, service_starts_unreserved)
    if status["reserved_bytes"] > 0 and not status["loaded"]:
        ret["changes"] = {"loaded": {"old": False, "new": True}}
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = "The crash kernel would be loaded."
            others = [p for p in status["problems"] if not _reboot_related(p)]
            if others:
                ret["comment"] += " Still not ready: " + "; ".join(others) + "."
            return ret
        ret["changes"] = {}
        _rebuild_and_verify()
        ret["changes"] = {"loaded": {"old": False, "new": True}}
        status = __salt__["kdump.status"]()
        explained = _explained_by_reboot(status, service_starts_unreserved)
    loaded_now = "The crash kernel was loaded. " if ret["changes"] else ""
    if status["ready"]:
        ret["comment"] = loaded_now + f"kdump is ready ({status['service']} on {status['os_family']})."
        return ret
    problems = list(status["problems"]) or ["kdump.status reports not ready"]
    others = [p for p in problems if not explained(p)] if status["reboot_pending"] else problems
    if status["reboot_pending"] and not others:
        ret["comment"] = loaded_now + _reboot_comment(problems)
        ret["result"] = require_reboot == "warn"
        return ret
    if __opts__["test"]:
        # A dry run changed nothing, so the package, config and service states before this one
        # have not acted yet: their predictions are the answer, this is a note, not a failure.
        ret["result"] = None
        ret["comment"] = (
            "kdump is not ready now: " + "; ".join(problems)
            + ". Checked again on the real run, after the states before this one."
        )
        return ret
    ret["result"] = False
    ret["comment"] = loaded_now + "kdump is not ready: " + "; ".join(problems) + "."
    return ret


def ready(name, require_reboot="warn", service_starts_unreserved=False):
    """
    The last state of the formula: prove kdump would capture a crash now, or say why not.

    :param str name: the state ID.
    :param str require_reboot: ``warn`` (default): not ready only because the reservation waits
        for a reboot gives result True and a ``reboot pending: ...`` comment; ``fail``: False.
    :param bool service_starts_unreserved: whether the OS's kdump service can run before
        memory is reserved (Debian's kdump-tools: True; RedHat's kdumpctl and Suse's load.sh
        fail without it: False, the default). When False, a service that is not running while
        nothing is reserved is explained by the pending reboot too.

    Loads the crash kernel when the reservation exists but nothing is loaded (changes
    ``{"loaded": {"old": False, "new": True}}``, predicted under ``test=True``).

    .. code-block:: yaml

        kdump-ready:
          kdump.ready:
            - require_reboot: warn
            - require:
              - kdump: kdump-config
    """
    return _run_state(_ready, name, require_reboot, service_starts_unreserved)


# --- kdump.dump_target -------------------------------------------------------------------


def _check_dump_target_args(vg, lv, size, fstype, mountpoint, mount_at_boot):
    try:
        dumpvolume.check_lvm_name("vg", vg)
        dumpvolume.check_lvm_name("lv", lv)
        spec = dumpvolume.parse_size_spec(size)
    except ValueError as exc:
        raise SaltInvocationError(str(exc)) from None
    if fstype not in dumpvolume.FSTYPES:
        raise SaltInvocationError(f"fstype: {fstype!r} must be one of {', '.join(dumpvolume.FSTYPES)}")
    if mountpoint is not None and (not isinstance(mountpoint, str) or not mountpoint.startswith("/")):
        raise SaltInvocationError(f"mountpoint: {mountpoint!r} must be an absolute path")
    if not isinstance(mount_at_boot, bool):
        raise SaltInvocationError(f"mount_at_boot: {mount_at_boot!r} must be true or false")
    if mount_at_boot and mountpoint is None:
        raise SaltInvocationError("mountpoint: required when mount_at_boot is true")
    return spec


def _volume_group(vg):
    """``(extent_bytes, free_bytes)`` of the VG, from Salt's ``lvm.vgdisplay``."""
    info = __salt__["lvm.vgdisplay"](vg, quiet=True).get(vg)
    if not info:
        raise SaltInvocationError(f"vg: volume group {vg!r} does not exist")
    extent = int(info["Physical Extent Size (kB)"]) * 1024
    return extent, int(info["Free Physical Extents"]) * extent


def _lv_bytes(device):
    """Size of the LV in bytes, None when it does not exist (``lvdisplay -c`` gives sectors)."""
    for info in __salt__["lvm.lvdisplay"](device, quiet=True).values():
        return int(info["Logical Volume Size"]) * 512
    return None


def _fs_type(device):
    """The signature on ``device``: None when blkid finds none (exit 2).

    blkid is run directly with ``-p`` (probe the device, bypass the cache) so that "nothing
    there" is told apart from "blkid failed": only the first may lead to mkfs.
    """
    cmd = ["blkid", "-p", "-o", "value", "-s", "TYPE", device]
    result = __salt__["cmd.run_all"](cmd, python_shell=False, ignore_retcode=True)
    if result["retcode"] == 2:
        return None
    if result["retcode"] != 0:
        raise CommandExecutionError(f"{' '.join(cmd)} failed: {result['stderr'].strip()}")
    return result["stdout"].strip() or "unknown signature"


def _wanted_bytes(spec, extent):
    estimate = mem = None
    if spec["kind"] == "auto":
        estimate = __salt__["kdump.estimate"]()["bytes"]
    elif spec["kind"] == "percent_ram":
        mem = __salt__["crashkernel.mem_bytes"]()
    try:
        return dumpvolume.target_bytes(spec, extent, estimate_bytes=estimate, mem_bytes=mem)
    except ValueError as exc:
        raise SaltInvocationError(str(exc)) from None


def _run(cmd):
    return commands.run(__salt__["cmd.run_all"], cmd, CommandExecutionError)


def _mounted_at(devices):
    for mountpoint, info in __salt__["mount.active"]().items():
        if info.get("device") in devices:
            return mountpoint
    return None


def _make_fs(device, fstype):
    if fstype == "xfs":
        __salt__["xfs.mkfs"](device)
        return
    result = __salt__["extfs.mkfs"](device, fs_type=fstype, full_return=True)
    if result["retcode"] != 0:
        raise CommandExecutionError(f"mke2fs -t {fstype} {device} failed: {result['stderr'].strip()}")


def _grow_fs(devices, fstype):
    """Grow the filesystem to fill its (just grown) LV, mounted or not."""
    device = devices[0]
    mountpoint = _mounted_at(devices)
    if fstype != "xfs":
        if mountpoint is None:
            # resize2fs refuses an unmounted filesystem that was not checked first.
            result = __salt__["cmd.run_all"](["e2fsck", "-f", "-p", device], python_shell=False)
            if result["retcode"] not in (0, 1):
                raise CommandExecutionError(f"e2fsck -f -p {device} failed: {result['stderr'].strip()}")
        _run(["resize2fs", device])
        return
    if mountpoint is not None:
        _run(["xfs_growfs", mountpoint])
        return
    # xfs grows only while mounted: mount it aside for the moment.
    scratch = tempfile.mkdtemp(prefix="kdump-formula-grow.")
    try:
        mounted = __salt__["mount.mount"](scratch, device, fstype=fstype)
        if mounted is not True:
            raise CommandExecutionError(f"mount {device} {scratch} failed: {mounted}")
        try:
            _run(["xfs_growfs", scratch])
        finally:
            __salt__["mount.umount"](scratch, device=device)
    finally:
        os.rmdir(scratch)


def _mount(devices, fstype, mountpoint):
    """Salt's ``mount.mounted`` with an fstab entry; ``{"old", "new"}`` when it acts."""
    result = __states__["mount.mounted"](
        name=files.rooted(_root(), mountpoint),
        device=devices[0],
        fstype=fstype,
        mkmnt=True,
        persist=True,
        config=files.rooted(_root(), "/etc/fstab"),
    )
    if result["result"] is False:
        raise CommandExecutionError(f"mount.mounted {mountpoint}: {result['comment']}")
    if result["result"] is None or result["changes"]:
        return {"old": None, "new": f"{devices[0]} on {mountpoint} ({fstype}, fstab)"}
    return None


def _dump_target(ret, vg, lv, size, fstype, mountpoint, mount_at_boot):
    spec = _check_dump_target_args(vg, lv, size, fstype, mountpoint, mount_at_boot)
    if "lvm.vgdisplay" not in __salt__:
        # Salt's lvm module loads only where the LVM tools are installed.
        if __opts__["test"]:
            # The formula's kdump-package installs them first (map: lvm_pkgs); a dry run cannot
            # look into the volume group before that.
            ret["result"] = None
            ret["comment"] = (
                f"The LVM tools are not installed yet (the package state installs lvm2): volume "
                f"group {vg} is checked and {vg}/{lv} ({size}, {fstype}) set up on the real run."
            )
            return ret
        raise CommandExecutionError(
            "vg: Salt's lvm module is not available on this minion (install lvm2; the kdump "
            "formula's package state does when a volume is managed); nothing was changed"
        )
    devices = dumpvolume.device_paths(vg, lv)
    device = devices[0]
    extent, free = _volume_group(vg)
    wanted = _wanted_bytes(spec, extent)
    current = _lv_bytes(device)
    existing_fs = _fs_type(device) if current is not None else None

    # Every check before any change.
    if existing_fs is not None and existing_fs != fstype:
        raise CommandExecutionError(
            f"fstype: {device} already has {existing_fs}, not {fstype}; it is never reformatted, "
            "nothing was changed"
        )
    grow = current is not None and current < wanted
    needed = wanted - (current or 0) if (current is None or grow) else 0
    if needed > free:
        raise CommandExecutionError(
            f"vg: {vg} has {free} bytes ({sizes.format_size(free)}) free, {lv} needs {needed} "
            f"more bytes for {sizes.format_size(wanted)}; nothing was changed"
        )

    notes = []
    if current is None:
        ret["changes"]["lv"] = {"old": None, "new": sizes.format_size(wanted)}
    elif grow:
        ret["changes"]["lv"] = {"old": sizes.format_size(current), "new": sizes.format_size(wanted)}
    elif current > wanted:
        notes.append(
            f"{device} is {sizes.format_size(current)}, larger than the {sizes.format_size(wanted)} "
            "asked; left as is (never shrunk)"
        )
    if existing_fs is None:
        ret["changes"]["filesystem"] = {"old": None, "new": fstype}
    elif grow:
        ret["changes"]["filesystem"] = {"old": fstype, "new": f"{fstype} grown to {sizes.format_size(wanted)}"}

    if __opts__["test"]:
        if mount_at_boot:
            mount_change = _mount(devices, fstype, mountpoint)
            if mount_change:
                ret["changes"]["mount"] = mount_change
        if ret["changes"]:
            ret["result"] = None
            notes.insert(0, f"{device} would be set up: {', '.join(sorted(ret['changes']))}")
        ret["comment"] = _dump_target_comment(device, notes)
        return ret

    planned, ret["changes"] = ret["changes"], {}
    if current is None:
        __salt__["lvm.lvcreate"](lv, vg, size=dumpvolume.lvm_size_arg(wanted))
        _verify_lv(device, wanted, "lvcreate")
        ret["changes"]["lv"] = planned["lv"]
    elif grow:
        __salt__["lvm.lvresize"](size=dumpvolume.lvm_size_arg(wanted), lvpath=device)
        _verify_lv(device, wanted, "lvresize")
        ret["changes"]["lv"] = planned["lv"]
    if existing_fs is None:
        _make_fs(device, fstype)
        if _fs_type(device) != fstype:
            raise CommandExecutionError(f"mkfs {fstype} {device} ran but blkid does not see {fstype}")
        ret["changes"]["filesystem"] = planned["filesystem"]
    elif grow:
        _grow_fs(devices, fstype)
        ret["changes"]["filesystem"] = planned["filesystem"]
    if mount_at_boot:
        mount_change = _mount(devices, fstype, mountpoint)
        if mount_change:
            ret["changes"]["mount"] = mount_change
    if ret["changes"]:
        notes.insert(0, f"{device} set up: {', '.join(sorted(ret['changes']))}")
    ret["comment"] = _dump_target_comment(device, notes)
    return ret


def _verify_lv(device, wanted, tool):
    size = _lv_bytes(device)
    if size is None or size < wanted:
        raise CommandExecutionError(
            f"{tool} {device}: the LV is {size} bytes after the call, {wanted} were asked"
        )


def _dump_target_comment(device, notes):
    return ("; ".join(notes) or f"{device} is in place") + "."


_DUMP_TARGET_ARGS = ("vg", "lv", "size", "fstype", "mountpoint", "mount_at_boot")


def _keyed(ret, pillar_key):
    """Errors that start with an argument name start with the pillar key instead
    (``vg: ...`` → ``kdump:volume:vg: ...``), so the user knows what to change."""
    if ret["result"] is False and pillar_key:
        for arg in _DUMP_TARGET_ARGS:
            if ret["comment"].startswith(f"{arg}: "):
                ret["comment"] = f"{pillar_key}:{ret['comment']}"
                break
    return ret


def dump_target(
    name, vg, lv, size, fstype="ext4", mountpoint=None, mount_at_boot=False, pillar_key=None
):  # pylint: disable=too-many-arguments
    """
    Provide an LVM logical volume with a filesystem for dumps, like the classic kickstart's
    ``lvcreate --size 1000 --name crashlv rootvg; mkfs.ext3``, safely repeatable.

    :param str name: the state ID.
    :param str vg: the volume group.
    :param str lv: the logical volume name.
    :param str size: ``1000M``/``4G``; ``auto`` (the ``kdump.estimate`` plus a margin of
        25 %, at least 64 MiB); or ``N%RAM``. Rounded up to whole extents.
    :param str fstype: ``ext3``, ``ext4`` (default) or ``xfs``.
    :param str mountpoint: where it is mounted (required with ``mount_at_boot``).
    :param bool mount_at_boot: True: fstab entry and mounted now (Salt's ``mount.mounted``);
        False (default): left unmounted, the kdump service mounts it when saving a dump.
    :param str pillar_key: where these arguments come from in pillar (the formula passes
        ``kdump:volume``): errors then name ``kdump:volume:vg`` instead of ``vg``.

    Grows the LV and its filesystem when smaller than asked, never shrinks, never formats a
    device that already has a filesystem, and fails before any change when the VG lacks space.

    .. code-block:: yaml

        kdump-volume:
          kdump.dump_target:
            - vg: rootvg
            - lv: crashlv
            - size: 1000M
            - fstype: ext3
    """
    ret = _run_state(_dump_target, name, vg, lv, size, fstype, mountpoint, mount_at_boot)
    return _keyed(ret, pillar_key)
