"""The decisions of a fleet crash test, free of Salt: who is ready, in which stages the
minions crash, whether a minion came back with a new dump, and when to stop.

The runner (``_runners/kdump.py``) asks the minions and acts; everything here is a function
of what they answered, so it is tested without a master. Bad arguments raise ValueError
whose message starts with the argument name (``wave_size: ...``).
"""

import math
import re

DEFAULT_CANARY = 1
DEFAULT_WAVE_SIZE = "25%"

PASSED = "passed"
FAILED = "failed"
SKIPPED = "skipped"
NOT_READY = "not_ready"
PLANNED = "planned"

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_INTEGER = re.compile(r"^\s*\d+\s*$")


# --------------------------------------------------------------------------- arguments


def parse_count(name, value, minimum=0):
    """An integer argument given as an int or digits (the CLI may pass either)."""
    if isinstance(value, bool):
        raise ValueError(f"{name}: {value!r} is not an integer")
    if isinstance(value, str) and _INTEGER.match(value):
        value = int(value)
    if not isinstance(value, int):
        raise ValueError(f"{name}: {value!r} is not an integer")
    if value < minimum:
        raise ValueError(f"{name}: {value} is below {minimum}")
    return value


def parse_seconds(name, value):
    """A positive duration in seconds (int or float, or their text)."""
    if isinstance(value, bool):
        raise ValueError(f"{name}: {value!r} is not a number of seconds")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"{name}: {value!r} is not a number of seconds") from None
    if not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
        raise ValueError(f"{name}: {value!r} is not a number of seconds")
    if value <= 0:
        raise ValueError(f"{name}: {value} must be more than 0 seconds")
    return value


def parse_wave_size(value, total):
    """Minions per wave: an integer >= 1, or ``"N%"`` of ``total`` (the ready minions),
    rounded up and at least 1, so a small fleet still moves forward."""
    if isinstance(value, str):
        match = _PERCENT.match(value)
        if match:
            percent = float(match.group(1))
            if not 0 < percent <= 100:
                raise ValueError(f"wave_size: {value!r} must be a percentage in (0, 100]")
            return max(1, math.ceil(total * percent / 100))
    try:
        return parse_count("wave_size", value, minimum=1)
    except ValueError:
        raise ValueError(
            f"wave_size: {value!r} is neither an integer >= 1 nor a percentage such as '25%'"
        ) from None


# --------------------------------------------------------------------------- pre-flight


def preflight(statuses):
    """Split the ``kdump.status`` answers into the ready minions and the others.

    ``statuses`` maps minion id → the status dict, or a string when the call failed (the
    module is missing, it raised). A ready minion without a ``boot_id`` is not crashed: its
    return could not be told from a minion that never went down.

    Returns ``(ready ids sorted, {id: [problem, ...]})``.
    """
    ready, not_ready = [], {}
    for minion in sorted(statuses):
        status = statuses[minion]
        if not isinstance(status, dict):
            not_ready[minion] = [f"kdump.status failed: {status}"]
        elif not status.get("ready"):
            not_ready[minion] = list(status.get("problems") or ["kdump.status says not ready"])
        elif not status.get("boot_id"):
            not_ready[minion] = ["no boot_id: its return after a crash could not be recognised"]
        else:
            ready.append(minion)
    return ready, not_ready


# --------------------------------------------------------------------------- plan


def plan(ready, canary=DEFAULT_CANARY, wave_size=DEFAULT_WAVE_SIZE):
    """The stages, in order: ``canary`` minions first, then waves of ``wave_size``.

    Returns ``[{"name": "canary"|"wave N", "minions": [id, ...]}]`` covering every ready
    minion once, in the order given (sorted by ``preflight``).
    """
    canary = parse_count("canary", canary, minimum=0)
    size = parse_wave_size(wave_size, len(ready))
    ready = list(ready)
    stages = []
    if canary and ready:
        stages.append({"name": "canary", "minions": ready[:canary]})
    rest = ready[canary:]
    for number, start in enumerate(range(0, len(rest), size), start=1):
        stages.append({"name": f"wave {number}", "minions": rest[start:start + size]})
    return stages


# --------------------------------------------------------------------------- verdicts


def new_dump(before, after):
    """Decide from ``vmcore.list`` before and after the crash whether a new, whole dump
    was saved.

    Entries are compared by their directory: one not in ``before`` is new. Returns
    ``(entry or None, reason or None)``: the newest new complete entry and no reason, or
    None and a sentence saying what is missing (nothing new; only incomplete ones).
    """
    if not isinstance(after, list):
        return None, f"vmcore.list failed: {after}"
    known = {entry.get("dir") for entry in before or [] if isinstance(entry, dict)}
    fresh = [entry for entry in after if isinstance(entry, dict) and entry.get("dir") not in known]
    if not fresh:
        return None, "no new dump was saved"
    fresh.sort(key=lambda entry: (entry.get("time") or "", entry.get("dir") or ""), reverse=True)
    for entry in fresh:
        if entry.get("complete") and entry.get("path"):
            return entry, None
    newest = fresh[0]
    why = newest.get("reason") or "incomplete"
    return None, f"the new dump {newest.get('path') or newest.get('dir')} is not complete: {why}"


def over_budget(failures, max_failures):
    """True when more minions failed than ``max_failures`` allows: no stage starts then."""
    return failures > max_failures


def stage_label(name):
    """``canary`` → ``the canary``; ``wave 2`` stays as it is (for sentences)."""
    return "the canary" if name == "canary" else name


def comment(records, stopped_after=None):
    """One line for the operator: counts per status, and where the run stopped."""
    counts = {}
    for record in records.values():
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    order = (PASSED, FAILED, SKIPPED, NOT_READY, PLANNED)
    parts = [f"{counts[status]} {status.replace('_', ' ')}" for status in order if counts.get(status)]
    text = ", ".join(parts) if parts else "no minion"
    if stopped_after:
        text += f"; stopped after {stage_label(stopped_after)}: failures exceeded max_failures"
    return text
