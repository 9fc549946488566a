"""The decisions of a fleet crash test, free of Salt: who is ready, in which stages the
minions crash, whether a minion came back with a new dump, and when to stop.

The runner (``_runners/kdump.py``) asks the minions and acts; everything here is a function
of what they answered, so it is tested without a master. Bad arguments raise ValueError
whose message starts with the argument name (``wave_size: ...``).

The staging (``plan``), the master-host guard (``on_master_host``), the failure budget and
the per-minion record and summary are shared with the guarded reboot
(``kdumplib.rebootplan``) and the audit (``kdumplib.audit``).
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
REFUSED = "refused"

# Every status of a crash test, in the order the summary and the comment list them.
STATUSES = (PASSED, FAILED, SKIPPED, NOT_READY, REFUSED, PLANNED)

# The keys every per-minion record of every runner carries (None when they do not apply), so
# a report renders any runner's records the same way. ``seconds``: down time (crash or reboot
# fired → answered again with a new boot_id); ``timeline``: event → seconds since the run began.
RECORD_KEYS = ("minion", "stage", "status", "seconds", "dump", "size", "panic", "reason",
               "problems", "timeline")

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


def parse_wave_size(value, total, name="wave_size"):
    """Minions per wave: an integer >= 1, or ``"N%"`` of ``total`` (the ready minions),
    rounded up and at least 1, so a small fleet still moves forward."""
    if isinstance(value, str):
        match = _PERCENT.match(value)
        if match:
            percent = float(match.group(1))
            if not 0 < percent <= 100:
                raise ValueError(f"{name}: {value!r} must be a percentage in (0, 100]")
            return max(1, math.ceil(total * percent / 100))
    try:
        return parse_count(name, value, minimum=1)
    except ValueError:
        raise ValueError(
            f"{name}: {value!r} is neither an integer >= 1 nor a percentage such as '25%'"
        ) from None


def parse_waves(value, name="waves"):
    """A list of wave sizes, each as ``wave_size`` takes it (``[1, 2, "50%"]``; from the CLI
    also ``"1,2,50%"``). Checked here, sized by ``wave_sizes`` once the fleet is known.
    Returns the list."""
    if isinstance(value, str):
        value = [part.strip().strip("'\"") for part in value.strip().strip("[]").split(",")]
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{name}: {value!r} is not a non-empty list of sizes such as [1, 2, '50%']")
    for index, size in enumerate(value):
        parse_wave_size(size, 1, name=f"{name}[{index}]")
    return list(value)


def wave_sizes(sizes, total, name="waves"):
    """The integer size of each wave in ``sizes`` for ``total`` ready minions."""
    return [parse_wave_size(size, total, name=f"{name}[{index}]") for index, size in enumerate(sizes)]


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


def unverifiable(statuses, ready):
    """The ready minions whose new dump the crash test could not find, with the reason.

    The runner proves a crash by a new complete dump in ``vmcore.list`` on the minion itself;
    a minion whose dumps land elsewhere (an ssh or nfs target) or on a raw device has no dump
    directory there (``kdump.status`` ``dump_dir`` None). Crashing it would prove nothing and
    end in a failure that is the runner's blind spot, not the minion's: it is skipped instead.

    Returns ``{id: reason}`` for the minions of ``ready`` concerned.
    """
    found = {}
    for minion in ready:
        status = statuses[minion]
        if "dump_dir" not in status or status["dump_dir"]:  # (a status from before dump_dir: as before)
            continue
        target = status.get("target") if isinstance(status.get("target"), dict) else {}
        kind = target.get("type")
        if kind in ("ssh", "nfs"):
            where = f"on {target.get('host')}:{target.get('path')} over {kind}"
            check = " (kdump_ssh.check tests the key and the dump host)" if kind == "ssh" else ""
        elif kind == "raw":
            where = f"on the raw device {target.get('device')}"
            check = ""
        else:
            where, check = "in no directory kdump.status could name", ""
        found[minion] = (f"not crashed: its dumps land {where}, and the crash test verifies a new "
                         f"dump on the minion itself{check}")
    return found


# --------------------------------------------------------------------------- plan


def plan(ready, canary=DEFAULT_CANARY, wave_size=DEFAULT_WAVE_SIZE, waves=None, label="wave"):
    """The stages, in order: ``canary`` minions first, then waves of ``wave_size``, or of
    the sizes in ``waves`` (the last size repeats until every minion has its wave).

    Percentages are of all ``ready`` minions. ``label`` names the waves (``"batch"`` for
    the reboot workflow). Returns ``[{"name": "canary"|"<label> N", "minions": [id, ...]}]``
    covering every ready minion once, in the order given (sorted by ``preflight``).
    """
    canary = parse_count("canary", canary, minimum=0)
    if waves is not None:
        sizes = wave_sizes(parse_waves(waves), len(ready))
    else:
        sizes = [parse_wave_size(wave_size, len(ready))]
    ready = list(ready)
    stages = []
    if canary and ready:
        stages.append({"name": "canary", "minions": ready[:canary]})
    rest, start, number = ready[canary:], 0, 0
    while start < len(rest):
        size = sizes[min(number, len(sizes) - 1)]
        number += 1
        stages.append({"name": f"{label} {number}", "minions": rest[start:start + size]})
        start += size
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


def summary(records, statuses=STATUSES):
    """Counts per status, every status of ``statuses`` present (0 when none), in order."""
    counts = dict.fromkeys(statuses, 0)
    for record in records:
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    return counts


def comment(records, stopped_after=None, statuses=STATUSES):
    """One line for the operator: counts per status, and where the run stopped."""
    counts = summary(records, statuses)
    parts = [f"{count} {status.replace('_', ' ')}" for status, count in counts.items() if count]
    text = ", ".join(parts) if parts else "no minion"
    if stopped_after:
        text += f"; stopped after {stage_label(stopped_after)}: failures exceeded max_failures"
    return text


# --------------------------------------------------------------------------- records


def new_record(minion, status, stage=None, problems=(), **extra):
    """A per-minion record with every ``RECORD_KEYS`` key (None/empty when unknown), plus
    the runner's own ``extra`` keys."""
    record = dict.fromkeys(RECORD_KEYS)
    record.update(minion=minion, status=status, stage=stage, problems=list(problems), timeline={})
    record.update(extra)
    return record


def ordered(records, stages):
    """The records as a list: stage by stage in the planned order, then the minions that
    were in no stage (not ready, refused), by id."""
    order = [minion for stage in stages for minion in stage["minions"]]
    staged = [records[minion] for minion in order if minion in records]
    rest = [records[minion] for minion in sorted(records) if minion not in set(order)]
    return staged + rest


# --------------------------------------------------------------------------- the master's host


def on_master_host(statuses, master_boot_id):
    """The answering minions that run on the master's own kernel: ``{id: reason}``.

    A minion is the master's host when its ``kdump.status`` ``boot_id`` equals the master's
    ``/proc/sys/kernel/random/boot_id``. The boot_id is the running kernel's random identity:
    the master's own minion and every container on the master's host share it, and a crash
    or a reboot there takes the master down with it. Names (minion id, fqdn) are not
    identities (``localhost`` is everywhere), and a machine-id is shared by clones and
    differs in a container that shares the master's kernel. Minions on a fake root
    (``kdump_root``, the test tiers) report their fake root's boot_id, as their crash writes
    their fake root's sysrq-trigger: the guard compares what the action would hit.
    """
    if not master_boot_id:
        return {}
    return {
        minion: (f"runs on the master's own host (its boot_id {master_boot_id} is the "
                 "master's running kernel): a crash or reboot there would take the master down")
        for minion, status in sorted(statuses.items())
        if isinstance(status, dict) and status.get("boot_id") == master_boot_id
    }
