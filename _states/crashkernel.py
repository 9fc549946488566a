"""
Manage the ``crashkernel=`` boot argument that reserves memory for the kdump capture kernel.

The work is done by the ``crashkernel`` execution module (boot-loader backends, sizing); these
states compare, predict under ``test=True``, change, and verify. They never reboot: a changed
reservation takes effect at the next boot, which the return reports as ``reboot_pending``.

.. code-block:: yaml

    crashkernel:
      crashkernel.configured:
        - name: auto
        - require_reboot: warn
"""

import salt.utils.platform
from salt.exceptions import CommandExecutionError, SaltInvocationError

from kdumplib import freshness

freshness.fresh()  # a minion running since before a saltutil.sync: the synced kdumplib
from kdumplib import sizes
from kdumplib.schema import CRASHKERNEL_SCOPES as SCOPES
from kdumplib.schema import REQUIRE_REBOOT

__virtualname__ = "crashkernel"

REBOOT_COMMENT = "reboot required for the reservation to take effect"
RELEASE_COMMENT = "reboot required to release the reservation"


def __virtual__():
    if not salt.utils.platform.is_linux():
        return (False, "crashkernel states: kdump and crashkernel= exist only on Linux")
    if "crashkernel.get" not in __salt__:
        return (False, "crashkernel states: the crashkernel execution module is not loaded")
    return __virtualname__


def _ret(name):
    return {"name": name, "result": True, "changes": {}, "comment": "", "reboot_pending": False}


def _canon(value):
    """The canonical spec of a value (a pair is ``"512M,high 256M,low"``); None stays None and
    a value the module cannot read compares as written."""
    if value is None:
        return None
    try:
        return __salt__["crashkernel.spec"](value)
    except SaltInvocationError:
        return value


def _same(first, second):
    """True when two crashkernel values (raw text) reserve the same thing."""
    return _canon(first) == _canon(second)


def _pending_verdict(ret, pending, require_reboot, what, message=REBOOT_COMMENT):
    """Put the reboot verdict into ``ret``: key, comment and (for ``fail``) the result."""
    ret["reboot_pending"] = pending
    if not pending:
        return ret
    ret["comment"] = f"{ret['comment']} {what}: {message}.".strip()
    if require_reboot == "fail" and ret["result"] is not None:
        ret["result"] = False
    return ret


def _kept(old, band):
    """True when the configured value reserves, on this RAM, between ``band``'s bytes."""
    try:
        reserved = __salt__["crashkernel.resolve"](old)
    except SaltInvocationError:
        return False
    return band[0] <= reserved <= band[1]


def _check_args(name, require_reboot, default_entry_only, scope, manage):
    if require_reboot not in REQUIRE_REBOOT:
        raise SaltInvocationError(
            f"require_reboot: {require_reboot!r} must be one of {', '.join(REQUIRE_REBOOT)}"
        )
    for key, flag in (("default_entry_only", default_entry_only), ("manage", manage)):
        if not isinstance(flag, bool):
            raise SaltInvocationError(f"{key}: {flag!r} must be true or false")
    if scope is not None and scope not in SCOPES:
        raise SaltInvocationError(f"scope: {scope!r} must be one of {', '.join(SCOPES)}")
    if not isinstance(name, str) or not name.strip():
        raise SaltInvocationError(f"name: {name!r} must be a crashkernel value, auto or measured")


def _not_managed(ret, require_reboot):
    """``manage: false``: report the running reservation and the boot arguments, change nothing."""
    current = __salt__["crashkernel.get"]()
    reserved = current["reserved_bytes"]
    running = f"crashkernel={current['running']}" if current["running"] else "no crashkernel="
    held = f"reserves {sizes.format_size(reserved)}" if reserved else "reserves nothing"
    configured = (
        f"the boot loader gives crashkernel={current['configured']}" if current["configured"]
        else "the boot loader gives no crashkernel="
    )
    ret["comment"] = (
        f"crashkernel= not managed (kdump:crashkernel:manage false): the running kernel "
        f"({running}) {held}; {configured}."
    )
    return _pending_verdict(ret, current["reboot_pending"], require_reboot, "the running kernel differs")


def _configured(name, require_reboot, default_entry_only, low, scope, manage):
    ret = _ret(name)
    _check_args(name, require_reboot, default_entry_only, scope, manage)
    if not manage:
        return _not_managed(ret, require_reboot)
    value = name.strip()
    source = "given"
    band = None
    if value == "auto":
        if low is not None:
            raise SaltInvocationError(f"low: {low!r} goes only with a value X,high, not auto")
        recommended = __salt__["crashkernel.recommend"]()
        value, source = recommended["value"], f"auto: {recommended['source']}"
    elif value == "measured":
        if low is not None:
            raise SaltInvocationError(f"low: {low!r} goes only with a value X,high, not measured")
        # Re-evaluated on every run: a new kernel or a bigger capture initrd moves the band.
        recommended = __salt__["crashkernel.recommend"]("measured")
        value, source, band = recommended["value"], recommended["source"], recommended.get("band")
    value = __salt__["crashkernel.spec"](value, low) if low is not None else _canon(value)
    args = {"default_entry_only": default_entry_only, "scope": scope}
    current = __salt__["crashkernel.get"]()
    old = current["configured"]
    if band and old and _kept(old, band):
        value, source = _canon(old), f"{source}; within the band"
    # set(test=True) checks the backend, the value and the scope the same way the real run will,
    # and says whether every entry of the scope already has it.
    predicted = __salt__["crashkernel.set"](value, test=True, **args)
    if not predicted["changed"]:
        ret["comment"] = f"crashkernel={old} is already configured (value {source})."
        return _pending_verdict(ret, current["reboot_pending"], require_reboot, "the running kernel differs")

    ret["changes"] = {"configured": {"old": old, "new": value}}
    if not _same(old, value):
        was = f"was crashkernel={old}" if old else "none configured before"
    elif predicted.get("files"):
        was = f"the default entry had it already; {', '.join(predicted['files'])} did not"
        ret["changes"]["files"] = predicted["files"]
    else:
        # the defaults give it but the generated boot config does not (update-grub never ran)
        commands = "; ".join(" ".join(argv) for argv in predicted.get("commands") or [])
        was = f"the defaults had it already, the generated boot config did not: {commands}"
        ret["changes"]["commands"] = predicted.get("commands") or []
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"crashkernel={value} would be configured ({was}; value {source})."
        return _pending_verdict(ret, not _same(current["running"], value), require_reboot, "after the change")

    result = __salt__["crashkernel.set"](value, test=False, **args)
    after = __salt__["crashkernel.get"]()
    if not _same(after["configured"], value):
        raise CommandExecutionError(
            f"crashkernel.set wrote {', '.join(result.get('files') or []) or 'nothing'} but the "
            f"next boot would get crashkernel={after['configured']}, not {value}"
        )
    ret["comment"] = f"crashkernel={value} configured via {result.get('backend')} ({was}; value {source})."
    return _pending_verdict(ret, after["reboot_pending"], require_reboot, "the running kernel differs")


def configured(name, require_reboot="warn", default_entry_only=False, low=None, scope=None, manage=True):
    """
    Make the next boot reserve crash-kernel memory, so kdump can capture a panic.

    :param str name: a ``crashkernel=`` value in any kernel syntax (``256M``, ``128M@16M``,
        ``1G-4G:192M,4G-:512M``, ``512M,high``), ``auto`` for ``crashkernel.recommend`` (the
        distribution default), or ``measured``: sized from the capture kernel and initrd built
        here, and re-evaluated on every run: the configured value is kept while it reserves
        1.2-1.6 times the measured minimum, and replaced by 1.4 times it when it drifts out (a
        kernel upgrade, a bigger initrd), with the reboot reported as pending.
    :param str require_reboot: ``warn`` (default): a pending reboot leaves the result True and
        says so in the comment; ``fail``: result False until the running kernel has the
        reservation.
    :param str low: with ``name`` X,high: the size of the ``crashkernel=<low>,low`` token the
        kernel reads with it (memory below 4G); both tokens are written and replaced together.
    :param str scope: ``all`` (default): every boot entry; ``default``: the default entry only
        (GRUB legacy ``default=N``, grubby ``DEFAULT``; on /etc/default/grub the normal entries
        through ``GRUB_CMDLINE_LINUX_DEFAULT``, not the recovery ones).
    :param bool default_entry_only: the older spelling of ``scope: default``.
    :param bool manage: ``False``: never edit the boot loader; only report the running
        reservation and what the boot loader gives ("not managed").

    The return carries ``reboot_pending`` (True when the running kernel's reservation differs
    from the configured one). Never reboots.

    .. code-block:: yaml

        crashkernel:
          crashkernel.configured:
            - name: 512M,high
            - low: 256M
            - scope: default
            - require_reboot: fail
    """
    try:
        return _configured(name, require_reboot, default_entry_only, low, scope, manage)
    except (SaltInvocationError, CommandExecutionError) as exc:
        ret = _ret(name)
        ret.update(result=False, comment=str(exc))
        return ret


def _absent(name, restore):
    ret = _ret(name)
    if not isinstance(restore, bool):
        raise SaltInvocationError(f"restore: {restore!r} must be true or false")
    current = __salt__["crashkernel.get"]()
    old = current["configured"]
    predicted = __salt__["crashkernel.remove"](test=True, restore=restore) if restore else None
    if (old is None and not restore) or (restore and not predicted["changed"]):
        ret["comment"] = "No crashkernel= is configured." if old is None else (
            f"The boot loader is as before kdump-formula (crashkernel={old} is not the formula's)."
        )
        return _pending_verdict(
            ret, current["reboot_pending"], "warn", "the running kernel differs", RELEASE_COMMENT
        )
    new = predicted["new"] if restore else None
    ret["changes"] = {"configured": {"old": old, "new": new}}
    if restore:
        ret["changes"]["files"] = predicted["files"]
    what = f"crashkernel={old}" if old else "the formula's boot-loader files"
    done = f"restored to crashkernel={new} (the distribution's)" if new else "removed"
    if __opts__["test"]:
        if not restore:
            __salt__["crashkernel.remove"](test=True)
        ret["result"] = None
        ret["comment"] = f"{what} would be {done}."
        return _pending_verdict(
            ret, not _same(current["running"], new), "warn", "after the change",
            RELEASE_COMMENT
        )
    if restore:
        __salt__["crashkernel.remove"](test=False, restore=True)
    else:
        __salt__["crashkernel.remove"](test=False)
    after = __salt__["crashkernel.get"]()
    if not _same(after["configured"], new):
        raise CommandExecutionError(
            f"crashkernel.remove ran but the next boot would get crashkernel={after['configured']}"
            f"{f', not {new}' if new else ''}"
        )
    ret["comment"] = f"{what} {done}."
    return _pending_verdict(
        ret, after["reboot_pending"], "warn", "the running kernel still has it", RELEASE_COMMENT
    )


def absent(name, restore=False):
    """
    Remove ``crashkernel=`` from every boot-loader source, giving the memory back at next boot.

    :param str name: the state ID; not used otherwise.
    :param bool restore: undo kdump-formula instead (``kdump.clean``): the boot-loader files
        it changed get their text from before it back where nothing else changed in them (a
        package's own ``crashkernel=``, e.g. Debian's ``grub.d/kdump-tools.cfg``, applies
        again), its guard file goes, and ``crashkernel=`` is stripped elsewhere.

    ``reboot_pending`` in the return says the running kernel still holds the reservation.

    .. code-block:: yaml

        no-crashkernel:
          crashkernel.absent

        undo-kdump-formula:
          crashkernel.absent:
            - restore: true
    """
    try:
        return _absent(name, restore)
    except (SaltInvocationError, CommandExecutionError) as exc:
        ret = _ret(name)
        ret.update(result=False, comment=str(exc))
        return ret
