"""Runner: prove kdump works across a fleet, and get it there safely.

``kdump.crashtest`` crashes minions on purpose, in stages: it asks every target
``kdump.status``, crashes a canary first, then waves, waits for each crashed minion to boot
again (a new ``boot_id``), checks that ``vmcore.list`` shows a new complete dump, optionally
reads it with ``vmcore.analyze``, and stops before the next stage once failures exceed
``max_failures``. ``kdump.reboot_pending`` reboots, in batches and only with an explicit
confirmation, the minions whose crashkernel reservation waits for a reboot, and reports
which came back ready. ``kdump.audit`` is the read-only readiness table.

It holds no kdump knowledge of its own: the minions' execution modules answer, through
Salt's LocalClient. The decisions (plans, verdicts, the master-host guard, the records) are
``kdumplib.crashplan``, ``kdumplib.rebootplan`` and ``kdumplib.audit``, synced to the master
by ``salt-run saltutil.sync_all``.

Failure signalling: every function returns ``{"result", "retcode", ...}``; salt-run exits
with ``retcode`` and ``__context__["retcode"]`` marks the job failed for orchestration. Bad
arguments are returned the same way (a raised ``SaltInvocationError`` is a ``TypeError``,
which salt's runner client prints as "Passed invalid arguments" and exits 0).
"""

import logging
import math
import os
import time

import salt.client
import salt.utils.event

try:
    from kdumplib import freshness

    freshness.fresh()  # a minion running since before a saltutil.sync: the synced kdumplib
    from kdumplib import audit as fleetaudit
    from kdumplib import crashplan, rebootplan
    from kdumplib import files as kdfiles
    from kdumplib import report as kdreport

    _IMPORT_ERROR = None
except ImportError as exc:  # the master has not synced _utils yet
    crashplan = rebootplan = fleetaudit = None
    _IMPORT_ERROR = exc

log = logging.getLogger(__name__)

__virtualname__ = "kdump"

CALL_TIMEOUT = 30
OUTPUTTER = "kdump_report"  # _output/kdump_report.py: the table, the summary, one line per event

# The keys each function's records carry on top of crashplan.RECORD_KEYS (every record of a
# run has the same keys, so a report can render any of them).
CRASH_KEYS = {"call_trace": None, "crash_read": None, "kernel": None, "boot_id": None,
              "ready_after": None}
REBOOT_KEYS = {"ready": None, "boot_id": None}
MASTER_BOOT_ID = "/proc/sys/kernel/random/boot_id"


def __virtual__():
    if crashplan is None:
        return (
            False,
            f"kdump runner: cannot import kdumplib ({_IMPORT_ERROR}); run "
            "'salt-run saltutil.sync_all' so the master has the formula's _utils",
        )
    return __virtualname__


# --------------------------------------------------------------------------- seams

# The clock and the pause between polls, replaced by unit tests with a fake clock.
_now = time.monotonic
_sleep = time.sleep


def _client():
    return salt.client.get_local_client(__opts__["conf_file"])


def _listener():
    """The master's event bus, subscribed now (before any reboot is fired), so no minion's
    start event is missed."""
    return salt.utils.event.get_master_event(__opts__, __opts__["sock_dir"], listen=True)


def _master_boot_id():
    """The master's running kernel's boot_id (the master-host guard), None when unknown."""
    try:
        with open(MASTER_BOOT_ID, encoding="ascii") as handle:
            return handle.read().strip() or None
    except OSError as exc:
        log.warning("kdump runner: cannot read %s (%s): the master-host guard is off", MASTER_BOOT_ID, exc)
        return None


def _fire(kind, **data):
    """A progress event on the runner's job (shown by salt-run, seen on the event bus)."""
    data["kind"] = kind
    data["outputter"] = OUTPUTTER  # salt-run prints it as one line (kdumplib.report)
    log.info("kdump runner: %s", data)
    try:
        __jid_event__.fire_event(data, "progress")
    except (NameError, ReferenceError):  # called outside a runner job
        pass


def _ask(client, minions, fun, timeout, kwarg=None, tgt_type="list", missing=None):
    """Call ``fun`` on ``minions`` and wait up to ``timeout`` seconds.

    Returns ``{id: (ok, value)}`` for the minions that answered; ``ok`` is False when the
    call failed on the minion (``value`` then says why). Targeted minions that did not
    answer (LocalClient gives them ``False``) are left out, and appended to ``missing``.
    """
    if tgt_type == "list" and not minions:
        return {}
    # A minion that is down would otherwise cost the master's gather_job_timeout on top.
    answers = client.cmd(
        minions, fun, kwarg=kwarg or {}, tgt_type=tgt_type, timeout=timeout,
        gather_job_timeout=max(1, math.ceil(timeout)), full_return=True,
    )
    result = {}
    for minion, answer in (answers or {}).items():
        if isinstance(answer, dict) and "ret" in answer:
            result[minion] = (not answer.get("retcode", 0), answer["ret"])
        elif answer is False:
            if missing is not None:
                missing.append(minion)
        else:
            result[minion] = (True, answer)
    return result


def _values(answers):
    return {minion: value if ok else str(value) for minion, (ok, value) in answers.items()}


def _statuses(client, tgt, tgt_type, timeout):
    """``kdump.status`` of every targeted minion; one that did not answer maps to a string
    saying so (as a failed call does)."""
    missing = []
    statuses = _values(_ask(client, tgt, "kdump.status", timeout, tgt_type=tgt_type, missing=missing))
    for minion in missing:
        statuses[minion] = f"did not answer within {timeout} s"
    return statuses


def _since(started):
    return round(_now() - started, 1)


def _wait_settings(reboot_timeout, poll_interval, timeout):
    """The waiting arguments the crash test and the reboot share, checked (ValueError)."""
    return {
        "reboot_timeout": crashplan.parse_seconds("reboot_timeout", reboot_timeout),
        "poll_interval": crashplan.parse_seconds("poll_interval", poll_interval),
        "timeout": crashplan.parse_seconds("timeout", timeout),
    }


def _check_tgt(tgt):
    if not tgt or not isinstance(tgt, (str, list)):
        raise ValueError(f"tgt: {tgt!r} names no minion")


def _sizes(name, wave_size, waves, default):
    """The staging arguments checked: ``(wave_size, waves)`` for ``crashplan.plan``."""
    if waves is not None and wave_size is not None:
        raise ValueError(f"waves: give either waves or {name}, not both")
    if waves is not None:
        return None, crashplan.parse_waves(waves)
    wave_size = default if wave_size is None else wave_size
    crashplan.parse_wave_size(wave_size, 1, name=name)
    return wave_size, None


def _record(keys, minion, status, **values):
    """A record with the shared keys and this function's ``keys`` (CRASH_KEYS, ...)."""
    return crashplan.new_record(minion, status, **{**keys, **values})


def _refused_by_guard(statuses, records, act, keys):
    """The master-host guard: the minions of ``statuses`` on the master's own kernel get a
    ``refused`` record; returns the comment, or None when the target is clear."""
    guarded = crashplan.on_master_host(statuses, _master_boot_id())
    for minion, reason in guarded.items():
        records[minion] = _record(keys, minion, crashplan.REFUSED, reason=reason,
                                  boot_id=statuses[minion]["boot_id"])
    if not guarded:
        return None
    names = ", ".join(guarded)
    return (f"refused: {names} run{'s' if len(guarded) == 1 else ''} on the master's own host; "
            f"exclude {'it' if len(guarded) == 1 else 'them'} from the target. Nothing was {act}")


def _finish(runner, records, stages, ok, test, text, statuses, started):
    """The structured return, the same for every function of this runner (see
    docs/runners/kdump.md); also how salt-run and orchestration learn of a failure."""
    retcode = 0 if ok else 1
    # salt-run exits with a returned "retcode"; orchestration's salt.runner reads the
    # job's success from __context__["retcode"].
    __context__["retcode"] = retcode
    if isinstance(records, dict):
        records = crashplan.ordered(records, stages)
    return {
        "runner": f"kdump.{runner}",
        "result": ok,
        "retcode": retcode,
        "test": bool(test),
        "comment": text,
        "summary": crashplan.summary(records, statuses),
        "duration": _since(started),
        # Unix time of the start: where the timeline's offsets are, on any other clock
        "started_at": round(time.time() - (_now() - started), 3),
        "stages": [{key: stage.get(key) for key in ("name", "minions", "status", "started", "ended")}
                   for stage in stages],
        "minions": records,
        "outputter": OUTPUTTER,
    }


def _bad_arguments(runner, exc, test, statuses, started):
    """A bad argument: the same return shape, retcode 1, the message (naming the argument)
    as the comment; nothing was asked or changed."""
    log.error("kdump.%s: %s", runner, exc)
    return _finish(runner, [], [], False, test, str(exc), statuses, started)


# --------------------------------------------------------------------------- stages


def _publish(client, stage, records, fun, kwarg, kind, run_started):
    """Publish ``fun`` asynchronously to each minion of ``stage`` (its job never returns when
    the minion goes down); returns ``{id: jid}``. A minion whose job could not be published
    fails at once; the others are ``acting`` until they come back or time out."""
    jids = {}
    for minion in stage["minions"]:
        jid = client.cmd_async([minion], fun, kwarg=kwarg(minion), tgt_type="list")
        jids[minion] = jid
        records[minion].update(status="acting")
        records[minion]["timeline"][kind] = _since(run_started)
        _fire(kind, stage=stage["name"], minion=minion, jid=jid)
        if not jid:
            records[minion].update(status=crashplan.FAILED,
                                   reason=f"the {fun} job could not be published")
    return jids


def _rebooted(value, boot_id):
    """True when a ``kdump.status`` answer carries a boot_id other than ``boot_id``."""
    return isinstance(value, dict) and bool(value.get("boot_id")) and value["boot_id"] != boot_id


def _back(records, stage, minion, value, started, run_started):
    """Record that ``minion`` answered again with a new boot_id (``value``): its down time."""
    seconds = round(_now() - started, 1)
    records[minion].update(seconds=seconds, boot_id=value["boot_id"])
    records[minion]["timeline"]["back"] = _since(run_started)
    _fire("back", stage=stage["name"], minion=minion, seconds=seconds)


def _timed_out(records, stage, minions, reboot_timeout):
    for minion in sorted(minions):
        records[minion].update(
            status=crashplan.FAILED,
            reason=f"did not come back with a new boot_id within {reboot_timeout} s",
        )
        _fire("timeout", stage=stage["name"], minion=minion)


# --------------------------------------------------------------------------- crash test


def _crash_stage(client, listener, stage, records, baseline, settings, run_started):
    """Crash every minion of ``stage`` asynchronously, wait for each to come back with a
    new boot_id (its start event, then a ``kdump.status`` answer), then check (and
    optionally analyze) its new dump (``_DumpChecks``). Fills ``records``."""
    boot_ids = {minion: baseline[minion]["boot_id"] for minion in stage["minions"]}
    checks = _DumpChecks(client, stage, records, baseline, settings, run_started)
    _StageWait(client, stage, records, boot_ids, settings, run_started, fun="kdump.crash",
               kwarg=lambda minion: {"confirm": minion}, kind="crash", on_back=checks.start,
               refusable=True, background=checks.busy, before_poll=checks.ahead).run(listener)


def _check_refusals(client, jids, pending, records, stage):
    """A minion that answered the crash job refused it (a real crash never returns):
    fail it now instead of waiting for a reboot that will not happen."""
    for minion in sorted(pending):
        jid = jids.get(minion)
        if not jid:
            continue
        try:
            returned = client.get_cache_returns(jid).get(minion)
        except Exception as exc:  # pylint: disable=broad-except
            log.debug("kdump.crashtest: cannot read the job cache for %s: %s", jid, exc)
            continue
        if returned is None or "ret" not in returned:
            continue
        value = returned["ret"]
        if isinstance(value, dict) and value.get("triggered"):
            continue  # a fake root (tests): the trigger was written, the "kernel" acts
        pending.discard(minion)
        records[minion].update(status=crashplan.FAILED, reason=f"kdump.crash refused: {value}")
        _fire("refused", stage=stage["name"], minion=minion, reason=str(value))


#: How often the master's job cache is read for the answers of dump checks in flight (s).
CHECK_POLL = 0.25
_NOT_YET = object()


def _cached_return(client, jid, minion):
    """What ``minion`` returned for ``jid`` (master job cache), or ``_NOT_YET``."""
    try:
        returned = client.get_cache_returns(jid).get(minion)
    except Exception as exc:  # pylint: disable=broad-except
        log.debug("kdump.crashtest: cannot read the job cache for %s: %s", jid, exc)
        return _NOT_YET
    if not isinstance(returned, dict) or "ret" not in returned:
        return _NOT_YET
    return returned["ret"]


def _collect(client, jobs, timeout):
    """The jobs of ``jobs`` (``{minion: (..., jid, published at)}``) that are done, taken out
    of it: ``(minion, entry, answer)`` for each one answered in the job cache, and with
    ``answer`` ``_NOT_YET`` for each one unanswered ``timeout`` seconds after it was published."""
    for minion in sorted(jobs):
        jid, published = jobs[minion][-2:]
        answer = _cached_return(client, jid, minion)
        if answer is _NOT_YET and _now() - published < timeout:
            continue
        yield minion, jobs.pop(minion), answer


class _DumpChecks:
    """The checks of the minions back from their crash, side by side: ``vmcore.list`` (is
    there a new complete dump?), then with ``analyze`` ``vmcore.analyze`` of that dump. Each
    is a job published asynchronously and read from the job cache as it returns, so that a
    minion checked does not hold up noticing and checking the others of its wave (measured:
    the second minion of a wave of two waited for the first one's checks, 2-4 s)."""

    def __init__(self, client, stage, records, baseline, settings, run_started):
        self.client, self.stage, self.records = client, stage, records
        self.baseline, self.settings, self.run_started = baseline, settings, run_started
        self.jobs = {}  # minion -> (function, jid, published at)
        self.listing_ahead = {}  # minion -> its ``jobs`` entry for the poll round in progress

    def ahead(self, minions):
        """A ``kdump.status`` round for ``minions`` is about to be asked: publish their
        ``vmcore.list`` first, so that it runs beside the status instead of after it (one
        Salt job's latency less, ~1 s under TCG). Only the listing of the round whose
        status finds the minion back is used (``start``): published milliseconds before that
        status, it reached the same boot, since a reboot takes a minute."""
        for minion in minions:
            jid = self.client.cmd_async([minion], "vmcore.list", kwarg={}, tgt_type="list")
            self.listing_ahead[minion] = ("vmcore.list", jid, _now()) if jid else None

    def start(self, minion, status):
        """``minion`` is back (``status``: its first ``kdump.status`` since): check its new
        dump, from the listing published ahead of that status when there is one."""
        self.records[minion]["ready_after"] = bool(status.get("ready"))
        ahead = self.listing_ahead.pop(minion, None)
        if ahead:
            self.jobs[minion] = ahead
            self.busy()  # the listing may be in already
        else:
            self._publish(minion, "vmcore.list", {})

    def busy(self):
        """Take the answers that came; True while a check still waits for one."""
        for minion, (fun, _, _), answer in _collect(self.client, self.jobs, self.settings["timeout"]):
            if answer is _NOT_YET:
                self._done(minion, crashplan.FAILED, f"did not answer {fun} after its reboot"
                           if fun == "vmcore.list" else "vmcore.analyze failed: no answer")
            elif fun == "vmcore.list":
                self._listed(minion, answer)
            else:
                self._analyzed(minion, answer)
        return bool(self.jobs)

    def _publish(self, minion, fun, kwarg):
        jid = self.client.cmd_async([minion], fun, kwarg=kwarg, tgt_type="list")
        if not jid:
            self._done(minion, crashplan.FAILED, f"the {fun} job could not be published")
            return
        self.jobs[minion] = (fun, jid, _now())

    def _listed(self, minion, listing):
        """New complete dump → analyze it (or passed); anything less → failed."""
        entry, reason = crashplan.new_dump(self.baseline[minion]["dumps"], listing)
        if entry is None:
            self._done(minion, crashplan.FAILED, reason)
            return
        self.records[minion].update(dump=entry["path"], size=entry.get("size"), kernel=entry.get("kernel"))
        if not self.settings["analyze"]:
            self._done(minion, crashplan.PASSED, None)
            return
        kwarg = {"path": entry["path"]}
        if self.settings["vmlinux"]:
            kwarg["vmlinux"] = self.settings["vmlinux"]
        self._publish(minion, "vmcore.analyze", kwarg)

    def _analyzed(self, minion, report):
        if not isinstance(report, dict):
            self._done(minion, crashplan.FAILED, f"vmcore.analyze failed: {report}")
            return
        self.records[minion].update(panic=report.get("panic"), call_trace=bool(report.get("call_trace")),
                                    crash_read=report.get("crash") is not None)
        if not report.get("panic"):
            self._done(minion, crashplan.FAILED, "vmcore.analyze found no panic string in the dump")
            return
        self._done(minion, crashplan.PASSED, None)

    def _done(self, minion, status, reason):
        record = self.records[minion]
        record.update(status=status, reason=reason)
        record["timeline"]["verified"] = _since(self.run_started)
        _fire("verified", stage=self.stage["name"], minion=minion, status=status,
              dump=record.get("dump"), size=record.get("size"), seconds=record.get("seconds"),
              reason=reason)


def _run_stages(stages, records, max_failures, run_stage, act, run_started):
    """Run ``run_stage(stage)`` stage by stage; once failures exceed ``max_failures`` the
    later stages are skipped. Returns ``(failures, stopped_after)``."""
    stopped_after = None
    failures = 0
    for number, stage in enumerate(stages, start=1):
        if stopped_after:
            stage["status"] = crashplan.SKIPPED
            for minion in stage["minions"]:
                records[minion].update(status=crashplan.SKIPPED,
                                       reason=f"not {act}: the run stopped after "
                                       + crashplan.stage_label(stopped_after))
            continue
        _fire("stage", stage=stage["name"], minions=stage["minions"], act=act)
        stage["started"] = _since(run_started)
        run_stage(stage)
        stage["ended"] = _since(run_started)
        stage_failures = sum(1 for m in stage["minions"] if records[m]["status"] == crashplan.FAILED)
        failures += stage_failures
        stage["status"] = crashplan.FAILED if stage_failures else crashplan.PASSED
        _fire("stage_done", stage=stage["name"], status=stage["status"], failures=failures)
        if crashplan.over_budget(failures, max_failures) and number < len(stages):
            stopped_after = stage["name"]
    return failures, stopped_after


# --------------------------------------------------------------------------- public


def crashtest(
    tgt,
    tgt_type="glob",
    canary=1,
    wave_size=None,
    waves=None,
    reboot_timeout=900,
    poll_interval=10,
    max_failures=0,
    analyze=False,
    vmlinux=None,
    timeout=CALL_TIMEOUT,
    report=None,
    junit=None,
    test=False,
):
    """
    Crash the targeted minions in stages and prove that each one saves a readable dump.

    Pre-flight: ``kdump.status`` and ``vmcore.list`` on every target; minions that are not
    ready (or whose dumps cannot be listed) are reported with their problems and never
    crashed. A target that includes the master's own host is refused before anything is
    crashed (see ``kdumplib.crashplan.on_master_host``: the minion's boot_id is the
    master's). Then the canary minions, then waves: each stage is crashed asynchronously
    (``kdump.crash confirm=<id>``), every minion must come back with a new ``boot_id``
    within ``reboot_timeout`` and show a new complete dump in ``vmcore.list``. When
    failures exceed ``max_failures`` no further stage starts.

    :param str tgt: the minions, as for ``salt``.
    :param str tgt_type: glob, list, compound, grain, pcre, ... (default glob).
    :param int canary: minions crashed first, alone (default 1; 0: none).
    :param wave_size: minions per later stage: an integer, or ``"N%"`` of the ready minions
        (default ``25%``).
    :param list waves: instead of ``wave_size``, the size of each wave in turn, e.g.
        ``[1, 2, "50%"]``; the last size repeats.
    :param reboot_timeout: seconds a crashed minion has to come back (default 900).
    :param poll_interval: seconds between polls of a stage's minions (default 10).
    :param int max_failures: failed minions tolerated before the run stops (default 0).
    :param bool analyze: also run ``vmcore.analyze`` on each new dump and require a panic
        string.
    :param str vmlinux: debug vmlinux path on the minions, passed to ``vmcore.analyze``.
    :param timeout: seconds to wait for each call to the minions (default 30).
    :param str report: write the HTML report (table and per-wave timeline) to this absolute
        path on the master at the end.
    :param str junit: write JUnit XML (one testcase per minion) to this absolute path.
    :param bool test: return the plan and crash nothing.
    :return: the runner's return (docs/runners/kdump.md): ``{"runner", "result",
        "retcode", "test", "comment", "summary", "duration", "stages", "minions": [record,
        ...]}``; a bad argument gives ``result: False``, ``retcode: 1`` and the argument
        named in ``comment``.

    CLI Example:

    .. code-block:: bash

        salt-run kdump.crashtest 'web*' test=True
        salt-run kdump.crashtest 'web*' canary=1 wave_size=25% analyze=True
        salt-run kdump.crashtest 'web*' waves='[1, 2, "50%"]'
        salt-run kdump.crashtest 'G@role:db' tgt_type=compound wave_size=2 max_failures=1
    """
    run_started = _now()
    try:
        _check_tgt(tgt)
        canary = crashplan.parse_count("canary", canary, minimum=0)
        max_failures = crashplan.parse_count("max_failures", max_failures, minimum=0)
        wave_size, waves = _sizes("wave_size", wave_size, waves, crashplan.DEFAULT_WAVE_SIZE)
        settings = {
            **_wait_settings(reboot_timeout, poll_interval, timeout),
            "analyze": bool(analyze),
            "vmlinux": vmlinux,
        }
        if vmlinux is not None and (not isinstance(vmlinux, str) or not vmlinux.startswith("/")):
            raise ValueError(f"vmlinux: {vmlinux!r} is not an absolute path")
        _check_report_paths(report=report, junit=junit)
    except ValueError as exc:
        return _bad_arguments("crashtest", exc, test, crashplan.STATUSES, run_started)

    client = _client()
    statuses = _statuses(client, tgt, tgt_type, settings["timeout"])
    records = {}
    refusal = _refused_by_guard(statuses, records, "crashed", CRASH_KEYS)
    ready, not_ready = crashplan.preflight({m: s for m, s in statuses.items() if m not in records})
    for minion, reason in crashplan.unverifiable(statuses, ready).items():
        ready.remove(minion)
        records[minion] = _record(CRASH_KEYS, minion, crashplan.SKIPPED, reason=reason)
    if refusal:
        for minion in ready:
            records[minion] = _record(CRASH_KEYS, minion, crashplan.SKIPPED,
                                      reason="not crashed: the target includes the master's host")
        for minion, problems in not_ready.items():
            records[minion] = _record(CRASH_KEYS, minion, crashplan.NOT_READY, problems=problems)
        _fire("preflight", ready=ready, not_ready=sorted(not_ready), refused=sorted(
            m for m, r in records.items() if r["status"] == crashplan.REFUSED))
        ret = _finish("crashtest", records, [], False, test, refusal, crashplan.STATUSES, run_started)
        return _reported(ret, report, junit)
    # The baseline: dumps already there. A minion whose dumps cannot be listed could not be
    # verified after its crash, so it is not crashed at all.
    dumps = _values(_ask(client, ready, "vmcore.list", settings["timeout"]))
    baseline = {}
    for minion in list(ready):
        listed = dumps.get(minion)
        if isinstance(listed, list):
            baseline[minion] = {"boot_id": statuses[minion]["boot_id"], "dumps": listed}
        else:
            ready.remove(minion)
            not_ready[minion] = [f"vmcore.list failed: {listed or 'no answer'}"]
    for minion, problems in sorted(not_ready.items()):
        records[minion] = _record(CRASH_KEYS, minion, crashplan.NOT_READY, problems=problems)
    skipped = sorted(m for m, r in records.items() if r["status"] == crashplan.SKIPPED)
    _fire("preflight", ready=ready, not_ready=sorted(not_ready), **({"skipped": skipped} if skipped else {}))
    if not ready:
        why = f"no minion answered {tgt!r}" if not statuses else "no targeted minion is ready"
        text = f"{why}; {crashplan.comment(records.values())}"
        ret = _finish("crashtest", records, [], False, test, text, crashplan.STATUSES, run_started)
        return _reported(ret, report, junit)

    stages = crashplan.plan(ready, canary, wave_size, waves=waves)
    for stage in stages:
        stage["status"] = crashplan.PLANNED
        for minion in stage["minions"]:
            records[minion] = _record(CRASH_KEYS, minion, crashplan.PLANNED, stage=stage["name"],
                                      boot_id=statuses[minion]["boot_id"])
    if test:
        text = f"plan only (test=True), nothing crashed: {crashplan.comment(records.values())}"
        ret = _finish("crashtest", records, stages, True, test, text, crashplan.STATUSES, run_started)
        return _reported(ret, report, junit)

    with _listener() as listener:
        failures, stopped_after = _run_stages(
            stages, records, max_failures,
            lambda stage: _crash_stage(client, listener, stage, records, baseline, settings,
                                       run_started),
            "crashed", run_started)
    text = crashplan.comment(records.values(), stopped_after)
    ret = _finish("crashtest", records, stages, not failures, test, text, crashplan.STATUSES, run_started)
    return _reported(ret, report, junit)


def plan(tgt, tgt_type="glob", canary=1, wave_size=None, waves=None, timeout=CALL_TIMEOUT):
    """
    Show which minions ``kdump.crashtest`` would crash, in which stage; crash nothing.

    Same arguments as ``kdump.crashtest`` (the waiting and analysis ones do not matter here).

    CLI Example:

    .. code-block:: bash

        salt-run kdump.plan '*' canary=2 wave_size=50%
    """
    return crashtest(tgt, tgt_type=tgt_type, canary=canary, wave_size=wave_size, waves=waves,
                     timeout=timeout, test=True)


# --------------------------------------------------------------------------- guarded reboot


def _start_events(listener, wait):
    """The ids of the minions whose ``salt/minion/<id>/start`` event arrives within ``wait``
    seconds (then whatever else is already queued, without waiting)."""
    started = []
    # wait=0 would block for ever in salt's get_event: no_block when no time is left.
    event = listener.get_event(wait=max(wait, 0), tag="salt/minion/", full=True, no_block=wait <= 0)
    while event:
        parts = event.get("tag", "").split("/")
        if len(parts) == 4 and parts[3] == "start":
            started.append(parts[2])
        event = listener.get_event(wait=0, tag="salt/minion/", full=True, no_block=True)
    return started


class _StageWait:
    """The wait for one stage of minions sent down by ``fun`` (``system.reboot`` or
    ``kdump.crash``): ``down`` (no new boot_id seen yet), ``announced`` (their
    ``salt/minion/<id>/start`` event came), and, with ``settle``, ``settling`` (back, not
    ready yet: the kdump service may still be loading the crash kernel) with the ``last``
    status each gave. ``on_back(minion, status)`` runs as soon as a minion is back;
    ``before_poll(minions)`` before each ``kdump.status`` asked of minions not back yet. With
    ``refusable``, a minion whose job returned a refusal (``_check_refusals``) fails at once.

    Only announced minions are asked: a call to a minion that is down costs the whole call
    timeout, which used to delay noticing the others that were back. Each status is a job
    published on its own and read from the master's job cache (``asking``), so a minion slow
    to answer its first job after a boot (seen: 12 s under TCG while the guest still starts
    its services) holds up neither the others' start events nor their dump checks. A minion
    that answered, but is not back or not ready yet, is asked again ``poll_interval`` seconds
    later. A start event that was missed is made up for by one last round at the deadline."""

    def __init__(self, client, stage, records, boot_ids, settings, run_started, fun, kwarg, kind,
                 settle=False, on_back=None, refusable=False, background=None, before_poll=None):
        self.client, self.stage, self.records = client, stage, records
        self.boot_ids, self.settings, self.run_started = boot_ids, settings, run_started
        self.fun, self.kwarg, self.kind, self.settle = fun, kwarg, kind, settle
        self.on_back, self.refusable = on_back, refusable
        self.background = background or (lambda: False)
        self.before_poll = before_poll
        self.started = _now()
        self.down, self.announced, self.settling, self.last = set(), set(), set(), {}
        self.asking = {}  # minion -> (jid, published at) of its kdump.status in flight
        self.ask_after = {}  # minion -> when it may be asked again

    def run(self, listener):
        """Publish ``fun`` to the stage, wait for each minion's start event, then for a
        ``kdump.status`` answer with a new boot_id (with ``settle``: asked again until ready,
        judged by ``rebootplan.verdict``); fills ``records``."""
        stage, settings = self.stage, self.settings
        deadline = self.started + settings["reboot_timeout"]
        jids = _publish(self.client, stage, self.records, self.fun, self.kwarg, self.kind,
                        self.run_started)
        self.down = {m for m in stage["minions"] if self.records[m]["status"] == "acting"}
        while (self.down or self.settling) and _now() < deadline:
            for minion in _start_events(listener, min(self._wait(), deadline - _now())):
                if minion in self.down and minion not in self.announced:
                    self.announced.add(minion)
                    self.records[minion]["timeline"]["started"] = _since(self.run_started)
                    _fire("started", stage=stage["name"], minion=minion)
            self._ask_due()
            self._take_answers()
            if self.refusable:
                _check_refusals(self.client, jids, self.down, self.records, stage)
        self.asking.clear()
        if self.down:  # a start event may have been missed: ask once more before giving up
            self.poll(self.down)
        _timed_out(self.records, stage, self.down, settings["reboot_timeout"])
        while self.background():  # each check ends by its answer or its own timeout
            _sleep(CHECK_POLL)
        for minion in sorted(self.settling):
            status, reason = rebootplan.verdict(self.last[minion])
            self.records[minion].update(status=status, reason=reason)
            _fire("verified", stage=stage["name"], minion=minion, status=status, reason=reason)

    def _wait(self):
        """How long to wait for start events now: briefly while answers are awaited (status
        jobs or dump checks in flight), else until the next minion is due to be asked."""
        checking = self.background()  # takes the dump checks' answers that came
        if self.asking or checking:
            return CHECK_POLL
        due = [self.ask_after.get(m, 0) for m in (self.down & self.announced) | self.settling]
        return max(min(due, default=_now() + self.settings["poll_interval"]) - _now(), 0)

    def _ask_due(self):
        """Publish ``kdump.status`` to each announced or settling minion that has none in
        flight and is due (``ask_after``)."""
        due = sorted(m for m in (self.down & self.announced) | self.settling
                     if m not in self.asking and _now() >= self.ask_after.get(m, 0))
        not_back = [m for m in due if m in self.down]
        if self.before_poll and not_back:
            self.before_poll(not_back)
        for minion in due:
            jid = self.client.cmd_async([minion], "kdump.status", kwarg={}, tgt_type="list")
            if jid:
                self.asking[minion] = (jid, _now())
            else:
                self.ask_after[minion] = _now() + self.settings["poll_interval"]

    def _take_answers(self):
        """The status answers that came; a job unanswered after ``timeout`` is given up and
        its minion asked again."""
        for minion, _, value in _collect(self.client, self.asking, self.settings["timeout"]):
            if value is _NOT_YET:
                continue  # given up: asked again in the next round
            self.ask_after[minion] = _now() + self.settings["poll_interval"]
            self._take(minion, value)

    def poll(self, minions):
        """One ``kdump.status`` round, waited for (the last one, at the deadline).
        ``before_poll(minions)`` runs first for those not back yet."""
        if self.before_poll and minions & self.down:
            self.before_poll(sorted(minions & self.down))
        answers = _values(_ask(self.client, sorted(minions), "kdump.status", self.settings["timeout"]))
        for minion, value in answers.items():
            self._take(minion, value)

    def _take(self, minion, value):
        """A ``kdump.status`` answer: a new boot_id moves a minion from ``down`` to back;
        with ``settle``, a ready one is done and the others stay ``settling``."""
        record = self.records[minion]
        if minion in self.down:
            if not _rebooted(value, self.boot_ids[minion]):
                return
            self.down.discard(minion)
            _back(self.records, self.stage, minion, value, self.started, self.run_started)
            if self.on_back:
                self.on_back(minion, value)
        elif minion not in self.settling:
            return  # a late answer of a minion already judged
        if not self.settle:
            return
        self.last[minion] = value
        self.settling.add(minion)
        if isinstance(value, dict):
            record.update(ready=bool(value.get("ready")), problems=list(value.get("problems") or []))
        status, reason = rebootplan.verdict(value)
        if status == rebootplan.READY:
            self.settling.discard(minion)
            record.update(status=status, reason=reason)
            record["timeline"]["ready"] = _since(self.run_started)
            _fire("verified", stage=self.stage["name"], minion=minion, status=status, reason=None)


def reboot_pending(
    tgt,
    tgt_type="glob",
    confirm=None,
    batch=None,
    reboot_timeout=900,
    poll_interval=10,
    max_failures=0,
    timeout=CALL_TIMEOUT,
    test=False,
):
    """
    Reboot, in batches, only the targeted minions whose crashkernel reservation waits for a
    reboot (``kdump.status`` ``reboot_pending``), and report which came back ready.

    The formula never reboots on its own; this is the guarded step after a highstate that
    changed ``crashkernel=``. It refuses unless ``confirm`` repeats ``tgt`` exactly (a list
    target: its ids joined by commas), so neither a habitual ``yes`` nor a target edited
    without its confirmation reboots anything; ``test=True`` shows the batches without a
    confirmation. It never reboots the master's own host: a target that includes it is
    refused before anything is rebooted (same guard as ``kdump.crashtest``).

    Each batch is rebooted with Salt's ``system.reboot``, published asynchronously. A
    minion is back when, after its ``salt/minion/<id>/start`` event, it answers
    ``kdump.status`` with a new ``boot_id``; it is ``ready`` once that status is ready
    (asked again until then), ``failed`` when it did not come back within
    ``reboot_timeout`` or came back not ready. When failures exceed ``max_failures`` the
    later batches are skipped.

    :param str tgt: the minions, as for ``salt``.
    :param str tgt_type: glob, list, compound, grain, pcre, ... (default glob).
    :param str confirm: must repeat ``tgt`` (not needed with ``test=True``).
    :param batch: minions rebooted together: an integer, ``"N%"`` of the pending minions
        (default ``25%``), or a list of sizes ``[1, "50%"]`` whose last size repeats.
    :param reboot_timeout: seconds a rebooted minion has to come back ready (default 900).
    :param poll_interval: seconds between polls (default 10).
    :param int max_failures: failed minions tolerated before later batches are skipped.
    :param timeout: seconds to wait for each call to the minions (default 30).
    :param bool test: return the batches and reboot nothing.
    :return: the runner's return (docs/runners/kdump.md), statuses ``ready``, ``failed``,
        ``skipped``, ``not_pending``, ``unknown``, ``refused``, ``planned``.

    CLI Example:

    .. code-block:: bash

        salt-run kdump.reboot_pending 'web*' test=True
        salt-run kdump.reboot_pending 'web*' confirm='web*' batch=2
        salt-run kdump.reboot_pending 'web*' confirm='web*' batch='[1, "50%"]' reboot_timeout=1800
    """
    run_started = _now()
    try:
        _check_tgt(tgt)
        max_failures = crashplan.parse_count("max_failures", max_failures, minimum=0)
        if isinstance(batch, (list, tuple)) or (isinstance(batch, str) and "," in batch):
            wave_size, waves = None, crashplan.parse_waves(batch, name="batch")
        else:
            wave_size, waves = _sizes("batch", batch, None, rebootplan.DEFAULT_BATCH)
        settings = _wait_settings(reboot_timeout, poll_interval, timeout)
        if not test:
            rebootplan.check_confirm(tgt, confirm)
    except ValueError as exc:
        return _bad_arguments("reboot_pending", exc, test, rebootplan.STATUSES, run_started)

    client = _client()
    statuses = _statuses(client, tgt, tgt_type, settings["timeout"])
    records = {}
    refusal = _refused_by_guard(statuses, records, "rebooted", REBOOT_KEYS)
    pending, not_pending, unknown = rebootplan.split(
        {m: s for m, s in statuses.items() if m not in records})
    for minion, status in not_pending.items():
        records[minion] = _record(
            REBOOT_KEYS, minion, rebootplan.NOT_PENDING, problems=status.get("problems") or [],
            reason="not rebooted: no crashkernel reservation is pending",
            ready=bool(status.get("ready")), boot_id=status.get("boot_id"))
    for minion, problems in unknown.items():
        records[minion] = _record(REBOOT_KEYS, minion, rebootplan.UNKNOWN, problems=problems,
                                  reason="not rebooted: " + "; ".join(problems))
    _fire("preflight", pending=pending, not_pending=sorted(not_pending), unknown=sorted(unknown))
    if refusal:
        for minion in pending:
            records[minion] = _record(REBOOT_KEYS, minion, rebootplan.SKIPPED,
                                      reason="not rebooted: the target includes the master's host")
        return _finish("reboot_pending", records, [], False, test, refusal, rebootplan.STATUSES,
                       run_started)
    if not statuses:
        return _finish("reboot_pending", records, [], False, test, f"no minion answered {tgt!r}",
                       rebootplan.STATUSES, run_started)

    stages = crashplan.plan(pending, canary=0, wave_size=wave_size, waves=waves, label="batch")
    boot_ids = {minion: statuses[minion]["boot_id"] for minion in pending}
    for stage in stages:
        stage["status"] = crashplan.PLANNED
        for minion in stage["minions"]:
            records[minion] = _record(REBOOT_KEYS, minion, rebootplan.PLANNED, stage=stage["name"],
                                      problems=statuses[minion].get("problems") or [],
                                      ready=False, boot_id=boot_ids[minion])
    if test or not stages:
        text = crashplan.comment(records.values(), statuses=rebootplan.STATUSES)
        if not stages:
            text = f"no crashkernel reservation is pending, nothing to reboot: {text}"
        elif test:
            text = f"plan only (test=True), nothing rebooted: {text}"
        return _finish("reboot_pending", records, stages, True, test, text, rebootplan.STATUSES,
                       run_started)

    with _listener() as listener:
        failures, stopped_after = _run_stages(
            stages, records, max_failures,
            lambda stage: _StageWait(client, stage, records, boot_ids, settings, run_started,
                                     fun="system.reboot", kwarg=lambda minion: {}, kind="reboot",
                                     settle=True).run(listener),
            "rebooted", run_started)
    text = crashplan.comment(records.values(), stopped_after, statuses=rebootplan.STATUSES)
    return _finish("reboot_pending", records, stages, not failures, test, text,
                   rebootplan.STATUSES, run_started)


# --------------------------------------------------------------------------- audit


def audit(tgt, tgt_type="glob", timeout=CALL_TIMEOUT):
    """
    The fleet's kdump readiness, one row per minion, from ``kdump.status``; nothing is
    crashed or changed.

    Each minion gets one category, with its reason: ``ready``, ``reboot_pending`` (what
    ``kdump.reboot_pending`` fixes), ``not_loaded``, ``no_space``, ``not_ready`` (anything
    else, e.g. the service stopped), ``no_answer``. ``master_host`` names a minion on the
    master's own host (the crash test and the reboot refuse targets that include it).

    :param str tgt: the minions, as for ``salt``.
    :param str tgt_type: glob, list, compound, grain, pcre, ... (default glob).
    :param timeout: seconds to wait for the minions' answers (default 30).
    :return: the runner's return (docs/runners/kdump.md); ``result`` is True (retcode 0)
        when every targeted minion answered and is ready, so it can gate a pipeline.

    CLI Example:

    .. code-block:: bash

        salt-run kdump.audit '*'
        salt-run kdump.audit 'G@os_family:Debian' tgt_type=compound --out=json
    """
    run_started = _now()
    try:
        _check_tgt(tgt)
        timeout = crashplan.parse_seconds("timeout", timeout)
    except ValueError as exc:
        return _bad_arguments("audit", exc, False, fleetaudit.STATUSES, run_started)
    statuses = _statuses(_client(), tgt, tgt_type, timeout)
    guarded = crashplan.on_master_host(statuses, _master_boot_id())
    records = [fleetaudit.record(minion, statuses[minion], guarded.get(minion))
               for minion in sorted(statuses)]
    ok = bool(records) and all(record["status"] == fleetaudit.READY for record in records)
    text = crashplan.comment(records, statuses=fleetaudit.STATUSES)
    if not records:
        text = f"no minion answered {tgt!r}"
    return _finish("audit", records, [], ok, False, text, fleetaudit.STATUSES, run_started)


# --------------------------------------------------------------------------- reports


def _check_report_paths(**paths):
    """``report=``/``junit=``: absolute file paths in an existing directory, checked before
    anything is crashed."""
    for name, path in paths.items():
        if path is None:
            continue
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"{name}: {path!r} is not an absolute path")
        if os.path.isdir(path):
            raise ValueError(f"{name}: {path!r} is a directory, not a file")
        if not os.path.isdir(os.path.dirname(path)):
            raise ValueError(f"{name}: {path!r}: directory {os.path.dirname(path)!r} does not exist")


def _reported(ret, report, junit):
    """Write the requested report files (HTML for people, JUnit XML for CI) from the return."""
    if report:
        kdfiles.write_text_atomic("/", report, kdreport.html_report(ret), backup_suffix=None)
        ret["report"] = report
    if junit:
        kdfiles.write_text_atomic("/", junit, kdreport.junit_xml(ret), backup_suffix=None)
        ret["junit"] = junit
    return ret
