"""Runner: prove kdump works across a fleet by crashing minions in stages.

A configured kdump is only worth something once a crash has been saved and read back. This
runner does that carefully: it asks every target ``kdump.status``, crashes a canary first,
then waves, waits for each crashed minion to boot again (a new ``boot_id``), checks that
``vmcore.list`` shows a new complete dump, optionally reads it with ``vmcore.analyze``, and
stops before the next stage once failures exceed ``max_failures``.

It holds no kdump knowledge of its own: the minions' execution modules answer, through
Salt's LocalClient. The decisions (plan, new dump, failure budget) are ``kdumplib.crashplan``,
synced to the master by ``salt-run saltutil.sync_all``.
"""

import logging
import math
import os
import time

import salt.client
from salt.exceptions import SaltInvocationError

try:
    from kdumplib import crashplan
    from kdumplib import files as kdfiles
    from kdumplib import report as kdreport

    _IMPORT_ERROR = None
except ImportError as exc:  # the master has not synced _utils yet
    crashplan = None
    _IMPORT_ERROR = exc

log = logging.getLogger(__name__)

__virtualname__ = "kdump"

CALL_TIMEOUT = 30
OUTPUTTER = "kdump_report"  # _output/kdump_report.py: the table, the summary, one line per event


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


def _fire(kind, **data):
    """A progress event on the runner's job (shown by salt-run, seen on the event bus)."""
    data["kind"] = kind
    data["outputter"] = OUTPUTTER  # salt-run prints it as one line (kdumplib.report)
    log.info("kdump.crashtest: %s", data)
    try:
        __jid_event__.fire_event(data, "progress")
    except (NameError, ReferenceError):  # called outside a runner job
        pass


def _ask(client, minions, fun, timeout, kwarg=None, tgt_type="list"):
    """Call ``fun`` on ``minions`` and wait up to ``timeout`` seconds.

    Returns ``{id: (ok, value)}`` for the minions that answered; ``ok`` is False when the
    call failed on the minion (``value`` then says why).
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
            value, retcode = answer["ret"], answer.get("retcode", 0)
        else:
            value, retcode = answer, 0
        result[minion] = (not retcode, value)
    return result


def _values(answers):
    return {minion: value if ok else str(value) for minion, (ok, value) in answers.items()}


def _invalid(exc):
    return SaltInvocationError(str(exc))


# --------------------------------------------------------------------------- stages


def _crash_stage(client, stage, records, baseline, settings):
    """Crash every minion of ``stage`` asynchronously, wait for each to come back with a
    new boot_id, then check (and optionally analyze) its new dump. Fills ``records``."""
    minions = stage["minions"]
    jids = {}
    started = _now()
    for minion in minions:
        jid = client.cmd_async(
            [minion], "kdump.crash", kwarg={"confirm": minion}, tgt_type="list"
        )
        jids[minion] = jid
        records[minion].update(status="crashing", crash_jid=jid or None)
        _fire("crash", stage=stage["name"], minion=minion, jid=jid)
        if not jid:
            records[minion].update(status=crashplan.FAILED, reason="the crash job could not be published")
    pending = {m for m in minions if records[m]["status"] == "crashing"}
    deadline = started + settings["reboot_timeout"]
    came_back = {}
    while pending and _now() < deadline:
        _sleep(settings["poll_interval"])
        answers = _ask(client, sorted(pending), "kdump.status", settings["timeout"])
        for minion, (ok, value) in answers.items():
            if minion not in pending:
                continue
            if ok and isinstance(value, dict) and value.get("boot_id") and (
                value["boot_id"] != baseline[minion]["boot_id"]
            ):
                pending.discard(minion)
                came_back[minion] = value
                seconds = round(_now() - started, 1)
                records[minion].update(seconds=seconds, boot_id=value["boot_id"],
                                       ready_after=bool(value.get("ready")))
                _fire("back", stage=stage["name"], minion=minion, seconds=seconds)
        _check_refusals(client, jids, pending, records, stage)
    for minion in sorted(pending):
        records[minion].update(
            status=crashplan.FAILED,
            reason=f"did not come back with a new boot_id within {settings['reboot_timeout']} s",
        )
        _fire("timeout", stage=stage["name"], minion=minion)
    for minion in sorted(came_back):
        _verify(client, minion, stage, records, baseline, settings)


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


def _verify(client, minion, stage, records, baseline, settings):
    """New complete dump (and its analysis when asked) → passed; anything less → failed."""
    record = records[minion]
    answer = _ask(client, [minion], "vmcore.list", settings["timeout"]).get(minion)
    if answer is None:
        record.update(status=crashplan.FAILED, reason="did not answer vmcore.list after its reboot")
    else:
        ok, value = answer
        entry, reason = crashplan.new_dump(baseline[minion]["dumps"], value if ok else str(value))
        if entry is None:
            record.update(status=crashplan.FAILED, reason=reason)
        else:
            record.update(dump=entry["path"], size=entry.get("size"), kernel=entry.get("kernel"))
            record.update(status=crashplan.PASSED, reason=None)
            if settings["analyze"]:
                _analyze(client, minion, entry, record, settings)
    _fire("verified", stage=stage["name"], minion=minion, status=record["status"],
          dump=record.get("dump"), reason=record.get("reason"))


def _analyze(client, minion, entry, record, settings):
    kwarg = {"path": entry["path"]}
    if settings["vmlinux"]:
        kwarg["vmlinux"] = settings["vmlinux"]
    answer = _ask(client, [minion], "vmcore.analyze", settings["timeout"], kwarg=kwarg).get(minion)
    if answer is None or not answer[0] or not isinstance(answer[1], dict):
        why = "no answer" if answer is None else answer[1]
        record.update(status=crashplan.FAILED, reason=f"vmcore.analyze failed: {why}")
        return
    report = answer[1]
    record.update(panic=report.get("panic"), call_trace=bool(report.get("call_trace")),
                  crash_read=report.get("crash") is not None)
    if not report.get("panic"):
        record.update(status=crashplan.FAILED, reason="vmcore.analyze found no panic string in the dump")


# --------------------------------------------------------------------------- public


def crashtest(
    tgt,
    tgt_type="glob",
    canary=1,
    wave_size="25%",
    reboot_timeout=900,
    poll_interval=10,
    max_failures=0,
    analyze=False,
    vmlinux=None,
    timeout=CALL_TIMEOUT,
    test=False,
    report=None,
    junit=None,
):
    """
    Crash the targeted minions in stages and prove that each one saves a readable dump.

    Pre-flight: ``kdump.status`` and ``vmcore.list`` on every target; minions that are not
    ready (or whose dumps cannot be listed) are reported with their problems and never
    crashed. Then the canary minions, then waves: each stage
    is crashed asynchronously (``kdump.crash confirm=<id>``), every minion must come back
    with a new ``boot_id`` within ``reboot_timeout`` and show a new complete dump in
    ``vmcore.list``. When failures exceed ``max_failures`` no further stage starts.

    :param str tgt: the minions, as for ``salt``.
    :param str tgt_type: glob, list, compound, grain, pcre, ... (default glob).
    :param int canary: minions crashed first, alone (default 1; 0: none).
    :param wave_size: minions per later stage: an integer, or ``"N%"`` of the ready minions
        (default ``25%``).
    :param reboot_timeout: seconds a crashed minion has to come back (default 900).
    :param poll_interval: seconds between polls of a stage's minions (default 10).
    :param int max_failures: failed minions tolerated before the run stops (default 0).
    :param bool analyze: also run ``vmcore.analyze`` on each new dump and require a panic
        string.
    :param str vmlinux: debug vmlinux path on the minions, passed to ``vmcore.analyze``.
    :param timeout: seconds to wait for each call to the minions (default 30).
    :param bool test: return the plan and crash nothing.
    :param str report: write the HTML report (table and per-wave timeline) to this absolute
        path on the master at the end.
    :param str junit: write JUnit XML (one testcase per minion) to this absolute path.
    :return: ``{"result": bool, "retcode": 0|1, "comment": str, "test": bool,
        "stages": [{"name", "minions", "status"}], "minions": {id: {"status", "stage",
        "seconds", "dump", "size", "panic", "call_trace", "reason", "problems"}}}``.

    CLI Example:

    .. code-block:: bash

        salt-run kdump.crashtest 'web*' test=True
        salt-run kdump.crashtest 'web*' canary=1 wave_size=25% analyze=True
        salt-run kdump.crashtest 'G@role:db' tgt_type=compound wave_size=2 max_failures=1
    """
    try:
        canary = crashplan.parse_count("canary", canary, minimum=0)
        max_failures = crashplan.parse_count("max_failures", max_failures, minimum=0)
        settings = {
            "reboot_timeout": crashplan.parse_seconds("reboot_timeout", reboot_timeout),
            "poll_interval": crashplan.parse_seconds("poll_interval", poll_interval),
            "timeout": crashplan.parse_seconds("timeout", timeout),
            "analyze": bool(analyze),
            "vmlinux": vmlinux,
        }
        crashplan.parse_wave_size(wave_size, 1)
    except ValueError as exc:
        raise _invalid(exc) from None
    if not tgt or not isinstance(tgt, (str, list)):
        raise SaltInvocationError(f"tgt: {tgt!r} names no minion")
    if vmlinux is not None and (not isinstance(vmlinux, str) or not vmlinux.startswith("/")):
        raise SaltInvocationError(f"vmlinux: {vmlinux!r} is not an absolute path")
    _check_report_paths(report=report, junit=junit)
    started = _now()

    client = _client()
    statuses = _values(_ask(client, tgt, "kdump.status", settings["timeout"], tgt_type=tgt_type))
    ready, not_ready = crashplan.preflight(statuses)
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
    records = {
        minion: {"status": crashplan.NOT_READY, "stage": None, "problems": problems}
        for minion, problems in sorted(not_ready.items())
    }
    _fire("preflight", ready=ready, not_ready=sorted(not_ready))
    if not ready:
        why = f"no minion answered {tgt!r}" if not statuses else "no targeted minion is ready"
        return _reported(_finish(records, [], False, test, why, None), started, report, junit)

    stages = crashplan.plan(ready, canary, wave_size)
    for stage in stages:
        stage["status"] = crashplan.PLANNED
        for minion in stage["minions"]:
            records[minion] = {"status": crashplan.PLANNED, "stage": stage["name"], "problems": [],
                               "seconds": None, "dump": None, "size": None, "panic": None,
                               "call_trace": None, "reason": None}
    if test:
        return _reported(_finish(records, stages, True, test, None, None), started, report, junit)

    stopped_after = None
    failures = 0
    for stage in stages:
        if stopped_after:
            stage["status"] = crashplan.SKIPPED
            for minion in stage["minions"]:
                records[minion].update(status=crashplan.SKIPPED,
                                       reason="not crashed: the run stopped after "
                                       + crashplan.stage_label(stopped_after))
            continue
        _fire("stage", stage=stage["name"], minions=stage["minions"])
        _crash_stage(client, stage, records, baseline, settings)
        stage_failures = sum(1 for m in stage["minions"] if records[m]["status"] == crashplan.FAILED)
        failures += stage_failures
        stage["status"] = crashplan.FAILED if stage_failures else crashplan.PASSED
        _fire("stage_done", stage=stage["name"], status=stage["status"], failures=failures)
        if crashplan.over_budget(failures, max_failures):
            stopped_after = stage["name"]
    return _reported(_finish(records, stages, not failures, test, None, stopped_after),
                     started, report, junit)


def plan(tgt, tgt_type="glob", canary=1, wave_size="25%", timeout=CALL_TIMEOUT):
    """
    Show which minions ``kdump.crashtest`` would crash, in which stage; crash nothing.

    Same arguments as ``kdump.crashtest`` (the waiting and analysis ones do not matter here).

    CLI Example:

    .. code-block:: bash

        salt-run kdump.plan '*' canary=2 wave_size=50%
    """
    return crashtest(tgt, tgt_type=tgt_type, canary=canary, wave_size=wave_size,
                     timeout=timeout, test=True)


def _finish(records, stages, ok, test, why, stopped_after):
    """The structured return; also how salt-run and orchestration learn of a failure."""
    for record in records.values():
        record.pop("crash_jid", None)
    text = crashplan.comment(records, stopped_after)
    if why:
        text = f"{why}; {text}"
    if test and ok:
        text = f"plan only (test=True), nothing crashed: {text}"
    retcode = 0 if ok else 1
    # salt-run exits with a returned "retcode"; orchestration's salt.runner reads the
    # job's success from __context__["retcode"].
    __context__["retcode"] = retcode
    return {
        "result": ok,
        "retcode": retcode,
        "test": bool(test),
        "comment": text,
        "stages": [{"name": s["name"], "minions": s["minions"], "status": s["status"]} for s in stages],
        "minions": records,
    }


# --------------------------------------------------------------------------- reports


def _check_report_paths(**paths):
    """``report=``/``junit=``: absolute file paths in an existing directory, checked
    before anything is crashed."""
    for name, path in paths.items():
        if path is None:
            continue
        if not isinstance(path, str) or not path.startswith("/"):
            raise SaltInvocationError(f"{name}: {path!r} is not an absolute path")
        if os.path.isdir(path):
            raise SaltInvocationError(f"{name}: {path!r} is a directory, not a file")
        if not os.path.isdir(os.path.dirname(path)):
            raise SaltInvocationError(f"{name}: {path!r}: directory {os.path.dirname(path)!r} does not exist")


def _reported(ret, started, report, junit):
    """The run's duration, the outputter salt-run uses, and the requested report files."""
    ret.setdefault("duration", round(_now() - started, 1))
    ret["outputter"] = OUTPUTTER
    if report:
        kdfiles.write_text_atomic("/", report, kdreport.html_report(ret), backup_suffix=None)
        ret["report"] = report
    if junit:
        kdfiles.write_text_atomic("/", junit, kdreport.junit_xml(ret), backup_suffix=None)
        ret["junit"] = junit
    return ret
