"""
Declare kdump: a checked pillar, a dump volume, the configuration with its capture initrd, room
for a dump, and a loaded crash kernel.

The work is in the ``kdump`` and ``crashkernel`` execution modules (which use Salt's own
``lvm``, ``extfs``/``xfs`` and ``mount``); these states run no command themselves: they ask the
module for a prediction (``test=True``), act through it, and report. A second run with the same
arguments changes nothing and rebuilds nothing.

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

import salt.utils.platform
from salt.exceptions import CommandExecutionError, SaltInvocationError

from kdumplib import freshness

freshness.fresh()  # a minion running since before a saltutil.sync: the synced kdumplib
from kdumplib.schema import REQUIRE_REBOOT  # the one definition (a constant, no system work)

__virtualname__ = "kdump"


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


def _reserved():
    return __salt__["crashkernel.get"]()["reserved_bytes"] > 0


def _rebuild_and_verify():
    """Rebuild the capture initrd, (re)load the crash kernel, and insist it is loaded
    (``kdump.rebuild`` then clears its rebuild-pending marker)."""
    result = __salt__["kdump.rebuild"]()
    if not result.get("loaded"):
        raise CommandExecutionError(
            f"{' '.join(result.get('command') or ['kdump.rebuild'])} finished but the crash "
            "kernel is not loaded"
        )
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
    # check_space raises when a dump does not fit: a result means it fits or cannot be measured.
    if not result["checked"]:
        ret["comment"] = f"Free space for a vmcore is not measured: {result['reason']}."
        return ret
    ret["comment"] = (
        f"A vmcore fits in {result['path']}: estimate {result['needed_bytes']} bytes, "
        f"free {result['free_bytes']} bytes."
    )
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


def _configured(ret, settings, passthrough):
    if not isinstance(settings, dict):
        raise SaltInvocationError(f"settings: {type(settings).__name__} given, expected a mapping")
    if passthrough is not None and not isinstance(passthrough, dict):
        raise SaltInvocationError(f"passthrough: {type(passthrough).__name__} given, expected a mapping")
    predicted = __salt__["kdump.configure"](settings, test=True, passthrough=passthrough)
    leftover = __salt__["kdump.rebuild_pending"]()["pending"]
    if not predicted["changed"] and not leftover:
        ret["comment"] = f"{_paths(predicted)} already configured."
        return ret
    reserved = _reserved()
    if not predicted["changed"] and not reserved:
        ret["comment"] = (
            f"{_paths(predicted)} already configured; the capture initrd is rebuilt once the "
            "crashkernel reservation exists (after the reboot)."
        )
        return ret
    if __opts__["test"]:
        ret["result"] = None
        ret["changes"] = _configured_changes(predicted, reserved)
        ret["comment"] = _configured_comment(predicted, reserved, leftover, would=True)
        return ret
    # kdump.configure writes the rebuild marker before the file: a failed rebuild below
    # leaves it, and the next run rebuilds.
    if predicted["changed"]:
        written = __salt__["kdump.configure"](settings, test=False, passthrough=passthrough)
    else:
        written = predicted
    ret["changes"] = _configured_changes(written, rebuilt=False)
    if reserved:
        _rebuild_and_verify()
        ret["changes"]["rebuilt"] = True
    ret["comment"] = _configured_comment(predicted, reserved, leftover, would=False)
    return ret


def _files(configured_ret):
    """The files of a kdump.configure result (older shape: the one config file)."""
    return configured_ret.get("files") or [
        {"path": configured_ret["path"], "changed": configured_ret["changed"], "diff": configured_ret["diff"]}
    ]


def _paths(configured_ret):
    """``<file> is`` / ``<file> and <file> are``: every file kdump.configure manages."""
    paths = [item["path"] for item in _files(configured_ret)]
    return " and ".join(paths) + (" is" if len(paths) == 1 else " are")


def _configured_changes(configured_ret, rebuilt):
    """``config`` for the config file, ``sysconfig`` for RedHat's /etc/sysconfig/kdump."""
    changes = {}
    for item in _files(configured_ret):
        if item["changed"]:
            role = "config" if item["path"] == configured_ret["path"] else "sysconfig"
            changes[role] = {"path": item["path"], "diff": item["diff"]}
    if rebuilt:
        changes["rebuilt"] = True
    return changes


def _configured_comment(predicted, reserved, leftover, would):
    verb = "would be" if would else "was"
    parts = []
    if predicted["changed"]:
        changed = [item["path"] for item in _files(predicted) if item["changed"]]
        plural = "would be" if would else "were"
        parts.append(f"{' and '.join(changed)} {verb if len(changed) == 1 else plural} updated")
    elif leftover:
        parts.append(f"{predicted['path']} was changed by an earlier run that did not rebuild")
    if reserved:
        parts.append(f"the capture initrd {verb} rebuilt and the crash kernel loaded")
    else:
        parts.append("no crashkernel reservation yet: the crash kernel will load after the reboot")
    return "; ".join(parts) + "."


def configured(name, settings, passthrough=None):
    """
    Write the neutral kdump settings into the OS's config file and rebuild the capture initrd
    when it changed, so the crash kernel always runs the configuration on disk.

    :param str name: the state ID.
    :param dict settings: the neutral settings (pillar ``kdump:settings``).
    :param dict passthrough: distribution keys the settings do not model (pillar
        ``kdump:passthrough``, ``kdumplib.passthrough``); default none.

    On a change the capture initrd is rebuilt and the crash kernel reloaded (when the
    crashkernel reservation exists) and verified loaded. A second run with the same settings
    changes and rebuilds nothing. ``test=True`` predicts ``{"config": {"path", "diff"},
    "sysconfig": {"path", "diff"} (RedHat /etc/sysconfig/kdump), "rebuilt": True}``. Other
    states can ``watch`` this one (``mod_watch`` rebuilds).

    .. code-block:: yaml

        kdump-config:
          kdump.configured:
            - settings:
                target: {type: local, path: /var/crash}
                collector: {dump_level: 31, compression: zstd}
            - passthrough:
                kdump_conf: {fence_kdump_nodes: [node2.example.com]}
            - watch:
              - pkg: kdump-packages
    """
    return _run_state(_configured, name, settings, passthrough)


def _watched(ret):
    if not _reserved():
        __salt__["kdump.request_rebuild"]("a watched state changed", test=__opts__["test"])
        ret["comment"] = (
            "No crashkernel reservation yet: the capture initrd is rebuilt and loaded after the reboot."
        )
        return ret
    if __opts__["test"]:
        ret["result"] = None
        ret["changes"] = {"rebuilt": True}
        ret["comment"] = "A watched state changed: the capture initrd would be rebuilt."
        return ret
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

# kdump.status problem codes (docs/modules/kdump.md) that a pending reboot explains: the new
# reservation is not in the running kernel yet, so nothing is reserved and nothing is loaded.
_REBOOT_CODES = frozenset({"reboot_pending", "not_reserved", "not_loaded"})


def _problems(status):
    """``[(code, sentence)]`` of a kdump.status result."""
    return list(zip(status["codes"], status["problems"]))


def _explained_by_reboot(status, service_starts_unreserved):
    """The problem codes a pending reboot explains: the reservation is not in the running
    kernel yet, so nothing is reserved or loaded, a service that cannot start without a
    reservation is not running, and the capture initrd waits for that reservation."""
    explained = set(_REBOOT_CODES)
    if status["reserved_bytes"] == 0:
        explained.add("rebuild_pending")
        if not service_starts_unreserved:
            explained.add("service_stopped")
    return explained


def _reboot_comment(problems):
    """``reboot pending: <why>; <what waits for it>``, saying "reboot pending" once."""
    reasons = []
    for code, message in sorted(problems, key=lambda problem: problem[0] not in _REBOOT_CODES):
        if code == "reboot_pending" and message.lower().startswith("reboot pending"):
            message = message[len("reboot pending"):].lstrip(":; ")
        reasons.append(message)
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
    loaded_now = ""
    if status["reserved_bytes"] > 0 and not status["loaded"]:
        if __opts__["test"]:
            ret["result"] = None
            ret["changes"] = {"loaded": {"old": False, "new": True}}
            ret["comment"] = "The crash kernel would be loaded."
            others = [message for code, message in _problems(status) if code not in _REBOOT_CODES]
            if others:
                ret["comment"] += " Still not ready: " + "; ".join(others) + "."
            return ret
        _rebuild_and_verify()
        ret["changes"] = {"loaded": {"old": False, "new": True}}
        loaded_now = "The crash kernel was loaded. "
        status = __salt__["kdump.status"]()
    if status["ready"]:
        ret["comment"] = loaded_now + f"kdump is ready ({status['service']} on {status['os_family']})."
        return ret
    problems = _problems(status)
    explained = _explained_by_reboot(status, service_starts_unreserved) if status["reboot_pending"] else set()
    if status["reboot_pending"] and all(code in explained for code, _message in problems):
        ret["comment"] = loaded_now + _reboot_comment(problems)
        ret["result"] = require_reboot == "warn"
        return ret
    sentences = "; ".join(message for _code, message in problems)
    if __opts__["test"]:
        # A dry run changed nothing, so the package, config and service states before this one
        # have not acted yet: their predictions are the answer, this is a note, not a failure.
        ret["result"] = None
        ret["comment"] = (
            f"kdump is not ready now: {sentences}. Checked again on the real run, after the "
            "states before this one."
        )
        return ret
    ret["result"] = False
    ret["comment"] = loaded_now + f"kdump is not ready: {sentences}."
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


def _dump_target(ret, vg, lv, size, fstype, mountpoint, mount_at_boot, dumps):
    args = {"vg": vg, "lv": lv, "size": size, "fstype": fstype, "mountpoint": mountpoint,
            "mount_at_boot": mount_at_boot, "dumps": dumps}
    predicted = __salt__["kdump.dump_volume"](test=True, **args)
    if __opts__["test"] and not predicted["checked"]:
        ret["result"] = None
        ret["comment"] = predicted["reason"][0].upper() + predicted["reason"][1:] + "."
        return ret
    # changed None: not predictable (no LVM tools); the real call says why it cannot act.
    real = predicted["changed"] is not False and not __opts__["test"]
    done = __salt__["kdump.dump_volume"](test=False, **args) if real else predicted
    ret["changes"] = done["changes"]
    if __opts__["test"] and done["changed"]:
        ret["result"] = None
    verb = "would be set up" if __opts__["test"] else "set up"
    notes = ([f"{done['device']} {verb}: {', '.join(sorted(done['changes']))}"] if done["changed"] else [])
    ret["comment"] = ("; ".join(notes + done["notes"]) or f"{done['device']} is in place") + "."
    return ret


_DUMP_TARGET_ARGS = ("vg", "lv", "size", "fstype", "mountpoint", "mount_at_boot", "dumps")


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
    name, vg, lv, size, fstype="ext4", mountpoint=None, mount_at_boot=False, pillar_key=None,
    dumps=1,
):  # pylint: disable=too-many-arguments
    """
    Provide an LVM logical volume with a filesystem for dumps, like the classic kickstart's
    ``lvcreate --size 1000 --name crashlv rootvg; mkfs.ext3``, safely repeatable.

    :param str name: the state ID.
    :param str vg: the volume group.
    :param str lv: the logical volume name.
    :param str size: ``1000M``/``4G``; ``auto`` (``dumps`` × the ``kdump.estimate`` plus a
        margin of 25 %, at least 64 MiB); or ``N%RAM``. Rounded up to whole extents.
    :param str fstype: ``ext3``, ``ext4`` (default) or ``xfs``.
    :param str mountpoint: where it is mounted (required with ``mount_at_boot``).
    :param bool mount_at_boot: True: fstab entry and mounted now (Salt's ``mount.set_fstab``, ``mount.mount``);
        False (default): left unmounted, the kdump service mounts it when saving a dump.
    :param int dumps: how many dumps ``auto`` holds (default 1; the formula passes
        ``kdump:retention:keep`` + 1: the dumps kept and the next one).
    :param str pillar_key: where these arguments come from in pillar (the formula passes
        ``kdump:volume``): errors then name ``kdump:volume:vg`` instead of ``vg``.

    ``kdump.dump_volume`` does the work (predicted with ``test=True`` first): it grows the LV
    and its filesystem when smaller than asked, never shrinks, never formats a device that
    already has a filesystem, and fails before any change when the VG lacks space.

    .. code-block:: yaml

        kdump-volume:
          kdump.dump_target:
            - vg: rootvg
            - lv: crashlv
            - size: 1000M
            - fstype: ext3
    """
    ret = _run_state(_dump_target, name, vg, lv, size, fstype, mountpoint, mount_at_boot, dumps)
    return _keyed(ret, pillar_key)
