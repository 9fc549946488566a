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

__virtualname__ = "crashkernel"

REQUIRE_REBOOT = ("warn", "fail")
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


def _same(first, second):
    """True when two parsed crashkernel values reserve the same thing (``value`` text aside)."""
    if first is None or second is None:
        return first is second
    strip = lambda parsed: {k: v for k, v in parsed.items() if k != "value"}  # noqa: E731
    return strip(first) == strip(second)


def _parsed(value):
    return __salt__["crashkernel.parse"](value) if value else None


def _pending_verdict(ret, pending, require_reboot, what, message=REBOOT_COMMENT):
    """Put the reboot verdict into ``ret``: key, comment and (for ``fail``) the result."""
    ret["reboot_pending"] = pending
    if not pending:
        return ret
    ret["comment"] = f"{ret['comment']} {what}: {message}.".strip()
    if require_reboot == "fail" and ret["result"] is not None:
        ret["result"] = False
    return ret


def _configured(name, require_reboot, default_entry_only):
    ret = _ret(name)
    if require_reboot not in REQUIRE_REBOOT:
        raise SaltInvocationError(
            f"require_reboot: {require_reboot!r} must be one of {', '.join(REQUIRE_REBOOT)}"
        )
    if not isinstance(default_entry_only, bool):
        raise SaltInvocationError(f"default_entry_only: {default_entry_only!r} must be true or false")
    if not isinstance(name, str) or not name.strip():
        raise SaltInvocationError(f"name: {name!r} must be a crashkernel value or auto")

    value = name.strip()
    source = "given"
    if value == "auto":
        recommended = __salt__["crashkernel.recommend"]()
        value, source = recommended["value"], f"auto: {recommended['source']}"
    wanted = _parsed(value)
    current = __salt__["crashkernel.get"]()
    old = current["configured"]
    running = _parsed(current["running"])

    if _same(_parsed(old), wanted):
        ret["comment"] = f"crashkernel={old} is already configured (value {source})."
        return _pending_verdict(ret, current["reboot_pending"], require_reboot, "the running kernel differs")

    ret["changes"] = {"configured": {"old": old, "new": value}}
    was = f"was crashkernel={old}" if old else "none configured before"
    if __opts__["test"]:
        # set(test=True) checks the backend and the value the same way the real run will.
        __salt__["crashkernel.set"](value, default_entry_only=default_entry_only, test=True)
        ret["result"] = None
        ret["comment"] = f"crashkernel={value} would be configured ({was}; value {source})."
        return _pending_verdict(ret, not _same(running, wanted), require_reboot, "after the change")

    result = __salt__["crashkernel.set"](value, default_entry_only=default_entry_only, test=False)
    after = __salt__["crashkernel.get"]()
    if not _same(_parsed(after["configured"]), wanted):
        raise CommandExecutionError(
            f"crashkernel.set wrote {', '.join(result.get('files') or []) or 'nothing'} but the "
            f"next boot would get crashkernel={after['configured']}, not {value}"
        )
    ret["comment"] = f"crashkernel={value} configured via {result.get('backend')} ({was}; value {source})."
    return _pending_verdict(ret, after["reboot_pending"], require_reboot, "the running kernel differs")


def configured(name, require_reboot="warn", default_entry_only=False):
    """
    Make the next boot reserve crash-kernel memory, so kdump can capture a panic.

    :param str name: a ``crashkernel=`` value in any kernel syntax (``256M``, ``128M@16M``,
        ``1G-4G:192M,4G-:512M``) or ``auto`` for ``crashkernel.recommend``.
    :param str require_reboot: ``warn`` (default): a pending reboot leaves the result True and
        says so in the comment; ``fail``: result False until the running kernel has the
        reservation.
    :param bool default_entry_only: GRUB legacy only: change only the default boot entry.

    The return carries ``reboot_pending`` (True when the running kernel's reservation differs
    from the configured one). Never reboots.

    .. code-block:: yaml

        crashkernel:
          crashkernel.configured:
            - name: 128M@16M
            - require_reboot: fail
    """
    try:
        return _configured(name, require_reboot, default_entry_only)
    except (SaltInvocationError, CommandExecutionError) as exc:
        ret = _ret(name)
        ret.update(result=False, comment=str(exc))
        return ret


def _absent(name):
    ret = _ret(name)
    current = __salt__["crashkernel.get"]()
    old = current["configured"]
    if old is None:
        ret["comment"] = "No crashkernel= is configured."
        return _pending_verdict(
            ret, current["reboot_pending"], "warn", "the running kernel differs", RELEASE_COMMENT
        )
    ret["changes"] = {"configured": {"old": old, "new": None}}
    if __opts__["test"]:
        __salt__["crashkernel.remove"](test=True)
        ret["result"] = None
        ret["comment"] = f"crashkernel={old} would be removed."
        return _pending_verdict(
            ret, current["running"] is not None, "warn", "after the change", RELEASE_COMMENT
        )
    __salt__["crashkernel.remove"](test=False)
    after = __salt__["crashkernel.get"]()
    if after["configured"] is not None:
        raise CommandExecutionError(
            f"crashkernel.remove ran but the next boot would still get crashkernel={after['configured']}"
        )
    ret["comment"] = f"crashkernel={old} removed."
    return _pending_verdict(
        ret, after["reboot_pending"], "warn", "the running kernel still has it", RELEASE_COMMENT
    )


def absent(name):
    """
    Remove ``crashkernel=`` from every boot-loader source, giving the memory back at next boot.

    :param str name: the state ID; not used otherwise.

    ``reboot_pending`` in the return says the running kernel still holds the reservation.

    .. code-block:: yaml

        no-crashkernel:
          crashkernel.absent
    """
    try:
        return _absent(name)
    except (SaltInvocationError, CommandExecutionError) as exc:
        ret = _ret(name)
        ret.update(result=False, comment=str(exc))
        return ret
