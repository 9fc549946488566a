"""The fleet's kdump readiness from ``kdump.status`` answers, free of Salt: one category and
one reason per minion, for ``salt-run kdump.audit`` (nothing is crashed or changed).

The category is read from the status fields, not parsed from the problem sentences, in the
order of what fixes it: a pending reboot first (the guarded reboot workflow fixes it), then a
crash kernel that is not loaded, then space, then anything else.
"""

from kdumplib import crashplan, sizing

READY = "ready"
REBOOT_PENDING = "reboot_pending"
NOT_LOADED = "not_loaded"
NO_SPACE = "no_space"
NOT_READY = "not_ready"
NO_ANSWER = "no_answer"

# Every audit category, in the order the summary and the comment list them.
STATUSES = (READY, REBOOT_PENDING, NOT_LOADED, NO_SPACE, NOT_READY, NO_ANSWER)

# kdump.status fields copied into each audit record (None when the minion did not answer).
FIELDS = ("os_family", "ready", "reboot_pending", "loaded", "reserved_bytes", "free_bytes",
          "estimate_bytes", "boot_id")


def classify(status):
    """``(category, reason)`` for one minion's ``kdump.status`` (a dict), or for a failed
    call (a string) or no answer (None)."""
    if status is None:
        return NO_ANSWER, "did not answer kdump.status"
    if not isinstance(status, dict):
        return NO_ANSWER, f"kdump.status failed: {status}"
    problems = list(status.get("problems") or [])
    if status.get("ready"):
        return READY, None
    if status.get("reboot_pending"):
        return REBOOT_PENDING, _first(problems, "reboot pending") or "reboot pending"
    if not status.get("loaded"):
        return NOT_LOADED, (_first(problems, "the crash kernel is not loaded")
                            or _first(problems, "no memory reserved") or "; ".join(problems)
                            or "the crash kernel is not loaded")
    free, needed = status.get("free_bytes"), status.get("estimate_bytes")
    if free is not None and needed and free < needed:
        return NO_SPACE, (_first(problems, "not enough space")
                          or f"not enough space to save a vmcore: need {sizing.human(needed)}, "
                          f"the target has {sizing.human(free)}")
    return NOT_READY, "; ".join(problems) or "kdump.status says not ready"


def _first(problems, prefix):
    return next((problem for problem in problems if problem.startswith(prefix)), None)


def record(minion, status, master_host=None):
    """The audit record of one minion: the shared record keys (``status`` = category,
    ``reason``), the status fields of ``FIELDS``, and ``master_host`` (the guard's reason
    when this minion runs on the master's host: the crash test and the reboot refuse it)."""
    category, reason = classify(status)
    fields = {key: status.get(key) for key in FIELDS} if isinstance(status, dict) else dict.fromkeys(FIELDS)
    problems = status.get("problems") or [] if isinstance(status, dict) else [reason]
    return crashplan.new_record(minion, category, problems=problems, reason=reason,
                                master_host=master_host, **fields)
