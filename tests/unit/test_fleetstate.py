"""kdumplib.fleetstate: the orchestration state's result, comment and changes from the
kdump runner's return, and the runner event tags the state follows."""

import copy

import pytest

from kdumplib import fleetstate

PANIC = "Kernel panic - not syncing: sysrq triggered crash"


def record(minion, stage, status, timeline=None, **values):
    base = {"minion": minion, "stage": stage, "status": status, "seconds": None, "dump": None,
            "size": None, "panic": None, "reason": None, "problems": [], "timeline": timeline or {}}
    base.update(values)
    return base


# A crash test stopped after the canary: web1 crashed and saved no dump, web2 skipped, web3
# not ready; what saltutil.runner(full_return=True) gives the state.
FAILED_RUN = {
    "runner": "kdump.crashtest", "result": False, "retcode": 1, "test": False, "duration": 75.0,
    "comment": "0 passed, 1 failed, 1 skipped, 1 not ready; stopped after the canary: failures "
               "exceeded max_failures",
    "stages": [{"name": "canary", "minions": ["web1"], "status": "failed"},
               {"name": "wave 1", "minions": ["web2"], "status": "skipped"}],
    "minions": [
        record("web1", "canary", "failed", {"crash": 1.0, "back": 60.0, "verified": 61.0},
               seconds=59.0, reason="no new dump was saved"),
        record("web2", "wave 1", "skipped", reason="not crashed: the run stopped after the canary"),
        record("web3", None, "not_ready", problems=["the kdump-tools service is not running"]),
    ],
}
PASSED_RUN = {
    "runner": "kdump.crashtest", "result": True, "retcode": 0, "test": False, "duration": 41.4,
    "comment": "2 passed",
    "stages": [{"name": "canary", "minions": ["web1"], "status": "passed"},
               {"name": "wave 1", "minions": ["web2"], "status": "passed"}],
    "minions": [
        record("web1", "canary", "passed", {"crash": 1.0, "back": 20.0}, seconds=19.0,
               dump="/var/crash/1/dump.1", size=4096, panic=PANIC),
        record("web2", "wave 1", "passed", {"crash": 21.0, "back": 40.0}, seconds=19.0,
               dump="/var/crash/2/dump.2", size=4096, panic=PANIC),
    ],
}
PLAN = {
    "runner": "kdump.crashtest", "result": True, "retcode": 0, "test": True, "duration": 1.2,
    "comment": "plan only (test=True), nothing crashed: 3 planned, 1 not ready",
    "stages": [{"name": "canary", "minions": ["web1"], "status": "planned"},
               {"name": "wave 1", "minions": ["web2", "web3"], "status": "planned"}],
    "minions": [record("web1", "canary", "planned"), record("web2", "wave 1", "planned"),
                record("web3", "wave 1", "planned"),
                record("web4", None, "not_ready", problems=["no memory reserved"])],
}
REFUSED_REBOOT = {
    "runner": "kdump.reboot_pending", "result": False, "retcode": 1, "test": False,
    "duration": 0.0, "comment": "confirm: None does not repeat the target 'web*'",
    "stages": [], "minions": [],
}
NOTHING_PENDING = {
    "runner": "kdump.reboot_pending", "result": True, "retcode": 0, "test": False, "duration": 2.0,
    "comment": "no crashkernel reservation is pending, nothing to reboot: 2 not pending",
    "stages": [], "minions": [record("db1", None, "not_pending"), record("db2", None, "not_pending")],
}


def full(ret, success=None, jid="20261202120000000001"):
    return {"jid": jid, "return": ret, "success": ret["retcode"] == 0 if success is None else success}


def test_a_failed_run_fails_with_the_summary_where_it_stopped_and_each_failure():
    ret = fleetstate.state_return("kdump-crashtest", "kdump.crashtest", full(FAILED_RUN))
    assert ret == {
        "name": "kdump-crashtest",
        "result": False,
        "changes": {"report": FAILED_RUN},
        "comment": "0 passed, 1 failed, 1 skipped, 1 excluded in 1 min 15 s\n"
                   "0 passed, 1 failed, 1 skipped, 1 not ready; stopped after the canary: "
                   "failures exceeded max_failures\n"
                   "web1: no new dump was saved",
    }


def test_a_passed_run_says_only_the_summary_and_reports_what_it_crashed():
    ret = fleetstate.state_return("ct", "kdump.crashtest", full(PASSED_RUN))
    assert ret["result"] is True
    assert ret["comment"] == "2 passed, 0 failed, 0 excluded in 41 s"
    assert ret["changes"] == {"report": PASSED_RUN}


def test_salt_counting_the_job_failed_fails_the_state_even_when_the_return_says_true():
    ret = fleetstate.state_return("ct", "kdump.crashtest", full(PASSED_RUN, success=False))
    assert ret["result"] is False
    bad_retcode = dict(copy.deepcopy(PASSED_RUN), retcode=1)
    assert fleetstate.state_return("ct", "kdump.crashtest", full(bad_retcode))["result"] is False


def test_test_mode_is_none_with_the_plan_in_the_comment_and_no_changes():
    ret = fleetstate.state_return("ct", "kdump.crashtest", full(PLAN), test=True)
    assert ret == {
        "name": "ct", "result": None, "changes": {},
        "comment": "plan: 0 passed, 0 failed, 3 planned, 1 excluded in 1 s\n"
                   "plan only (test=True), nothing crashed: 3 planned, 1 not ready\n"
                   "canary: web1\n"
                   "wave 1: web2, web3",
    }


def test_a_bad_argument_fails_in_test_mode_too_and_names_the_argument():
    bad = {**REFUSED_REBOOT, "comment": "wave_size: '0%' must be a percentage above 0", "test": True}
    ret = fleetstate.state_return("ct", "kdump.crashtest", full(bad), test=True)
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"].splitlines()[1] == "wave_size: '0%' must be a percentage above 0"


def test_a_refused_reboot_fails_without_changes():
    ret = fleetstate.state_return("rb", "kdump.reboot_pending", full(REFUSED_REBOOT))
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"] == ("0 ready, 0 failed in 0 s\n"
                              "confirm: None does not repeat the target 'web*'")


def test_nothing_pending_passes_without_changes():
    ret = fleetstate.state_return("rb", "kdump.reboot_pending", full(NOTHING_PENDING))
    assert ret["result"] is True and ret["changes"] == {}
    assert ret["comment"] == ("0 ready, 0 failed, 2 not pending in 2 s\n"
                              "no crashkernel reservation is pending, nothing to reboot: 2 not pending")


def test_a_rebooted_minion_is_a_change_and_a_failure_names_it():
    rebooted = {**NOTHING_PENDING, "result": False, "retcode": 1, "comment": "0 ready, 1 failed",
                "stages": [{"name": "batch 1", "minions": ["db1"], "status": "failed"}],
                "minions": [record("db1", "batch 1", "failed", {"reboot": 0.5},
                                   reason="did not come back with a new boot_id within 20 s")]}
    ret = fleetstate.state_return("rb", "kdump.reboot_pending", full(rebooted))
    assert ret["result"] is False and ret["changes"] == {"report": rebooted}
    assert ret["comment"] == ("0 ready, 1 failed in 2 s\n"
                              "db1: did not come back with a new boot_id within 20 s")


@pytest.mark.parametrize("out", [
    {"jid": "1", "return": "\nPassed invalid arguments: crashtest() got an unexpected keyword", "success": True},
    {"jid": "1", "return": "Exception occurred in runner kdump.crashtest: Traceback ...", "success": False},
    "'kdump.crashtest' is not available.",
    {"jid": "1", "return": {"Error": "boom"}, "success": True},
])
def test_anything_but_a_runner_report_fails_and_quotes_it(out):
    ret = fleetstate.state_return("ct", "kdump.crashtest", out)
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"].startswith("kdump.crashtest did not return a report: ")
    text = out["return"] if isinstance(out, dict) else out
    assert str(text).strip()[:30] in ret["comment"]


def test_a_long_non_report_is_clipped():
    ret = fleetstate.state_return("ct", "kdump.crashtest", {"return": "x" * 5000})
    assert len(ret["comment"]) < 500 and ret["comment"].endswith("...")


def test_acted_reads_the_timeline():
    assert fleetstate.acted(FAILED_RUN) and fleetstate.acted(PASSED_RUN)
    assert not fleetstate.acted(PLAN) and not fleetstate.acted(NOTHING_PENDING)


def test_job_events_and_the_start_of_a_runner_job():
    assert fleetstate.job_event("salt/run/2026/progress") == ("2026", "progress")
    assert fleetstate.job_event("salt/run/2026/ret") == ("2026", "ret")
    for tag in ("salt/job/2026/ret/m", "salt/run/2026", "salt/run//new", "", None):
        assert fleetstate.job_event(tag) is None
    new = {"fun": "runner.kdump.crashtest", "jid": "2026", "user": "root"}
    assert fleetstate.starts("salt/run/2026/new", new, "kdump.crashtest") == "2026"
    assert fleetstate.starts("salt/run/2026/new", new, "kdump.reboot_pending") is None
    assert fleetstate.starts("salt/run/2026/progress", new, "kdump.crashtest") is None
    assert fleetstate.starts("salt/run/2026/new", "text", "kdump.crashtest") is None
