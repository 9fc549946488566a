"""The decisions of the guarded reboot workflow, free of Salt: is the reboot confirmed, which
minions have a crashkernel reservation waiting for a reboot, and is a rebooted minion ready.

The formula never reboots on its own (``crashkernel.configured`` only reports
``reboot_pending``). ``salt-run kdump.reboot_pending`` reboots exactly the minions whose
``kdump.status`` says ``reboot_pending``, in batches planned by ``crashplan.plan`` (the same
staging as the crash test's waves), and reports which came back ready.
"""

from kdumplib import crashplan

READY = "ready"
FAILED = crashplan.FAILED
SKIPPED = crashplan.SKIPPED
PLANNED = crashplan.PLANNED
REFUSED = crashplan.REFUSED
NOT_PENDING = "not_pending"
UNKNOWN = "unknown"

# Every status of a reboot run, in the order the summary and the comment list them.
STATUSES = (READY, FAILED, SKIPPED, NOT_PENDING, UNKNOWN, REFUSED, PLANNED)

DEFAULT_BATCH = "25%"


def target_text(tgt):
    """The target as one string: a list target is its ids joined by commas."""
    if isinstance(tgt, (list, tuple)):
        return ",".join(str(item) for item in tgt)
    return str(tgt)


def check_confirm(tgt, confirm):
    """A reboot needs ``confirm`` to repeat the target exactly (a list target: its ids
    joined by commas). A ``yes``/``True`` typed by habit, or a target changed without
    changing the confirmation, does not reboot anything. Raises ValueError naming
    ``confirm``."""
    expected = target_text(tgt)
    if confirm is None or isinstance(confirm, bool) or target_text(confirm) != expected:
        raise ValueError(
            f"confirm: {confirm!r} does not repeat the target; to reboot the minions of "
            f"{expected!r} whose crashkernel reservation is pending, pass confirm={expected!r} "
            "(test=True shows them without rebooting)"
        )


def split(statuses):
    """Sort the ``kdump.status`` answers into the minions to reboot and the others.

    ``statuses`` maps minion id → the status dict, or a string when the call failed.
    A minion is rebooted only when its status says ``reboot_pending: True`` and carries a
    ``boot_id`` (without one its return could not be recognised).

    Returns ``(pending ids sorted, {id: status} not pending, {id: [problem, ...]} unknown)``.
    """
    pending, not_pending, unknown = [], {}, {}
    for minion in sorted(statuses):
        status = statuses[minion]
        if not isinstance(status, dict):
            unknown[minion] = [f"kdump.status failed: {status}"]
        elif status.get("reboot_pending") is None:
            unknown[minion] = list(status.get("problems") or []) + [
                "whether a reboot is pending is unknown (crashkernel.get unavailable)"]
        elif not status["reboot_pending"]:
            not_pending[minion] = status
        elif not status.get("boot_id"):
            unknown[minion] = ["no boot_id: its return after a reboot could not be recognised"]
        else:
            pending.append(minion)
    return pending, not_pending, unknown


def verdict(status):
    """``(status, reason)`` of a minion that came back from its reboot, from its new
    ``kdump.status``: ``ready``, or ``failed`` with what is still wrong."""
    if not isinstance(status, dict):
        return FAILED, f"kdump.status failed after the reboot: {status}"
    if status.get("ready"):
        return READY, None
    problems = "; ".join(status.get("problems") or ["kdump.status says not ready"])
    if status.get("reboot_pending"):
        return FAILED, f"came back, but the crashkernel reservation is still pending: {problems}"
    return FAILED, f"came back, but kdump is not ready: {problems}"
