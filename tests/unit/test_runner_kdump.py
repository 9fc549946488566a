"""_runners/kdump.py against a fake fleet: a fake LocalClient whose minions crash or reboot,
stay down for a while on a fake clock, and come back with a new boot_id (after a crash with
or without a new dump; after a reboot with the pending reservation in force). The runner's
clock and sleep are the fake clock's, and its master event bus a fake one that delivers each
minion's start event at the moment it boots, so hours of waiting take milliseconds."""

import fnmatch
import inspect
import pathlib
import re

import time

import pytest

from _runners import kdump as runner

DUMP_DIR = "/var/crash"
MASTER_BOOT_ID = "master-boot-1"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def time(self):
        return self.now

    def sleep(self, seconds):
        assert seconds > 0
        self.now += seconds


class Minion:
    """One fake host. ``after_crash``: "dump" (back with a new complete dump), "nodump"
    (back, nothing saved), "incomplete" (back, a truncated dump), "never" (stays down),
    "refuse" (kdump.crash raises, the host stays up). ``pending``: its crashkernel
    reservation waits for a reboot; ``after_reboot``: "ready" (back with it in force),
    "never", "still_pending", "broken" (back, the kdump service stopped). ``settle``: seconds
    after a boot during which kdump.status says the crash kernel is not loaded yet;
    ``deaf``: seconds after its start event during which it answers no job."""

    def __init__(self, clock, mid, ready=True, after_crash="dump", down_for=120, list_broken=False,
                 pending=False, after_reboot="ready", settle=0, deaf=0, boot_id=None,
                 answers=True, target=None, list_delay=0, status_delay=0):
        self.clock, self.id, self.ready, self.list_broken = clock, mid, ready, list_broken
        # seconds its vmcore.list job takes (None: it never answers one)
        self.list_delay = list_delay
        # seconds its kdump.status job takes when published asynchronously
        self.status_delay = status_delay
        self.after_crash, self.down_for = after_crash, down_for
        self.pending, self.after_reboot, self.settle, self.deaf = pending, after_reboot, settle, deaf
        self.answers = answers
        # kdump.status's target and dump_dir: a local directory unless ``target`` says otherwise
        self.target = target or {"type": "local", "path": DUMP_DIR}
        self.fixed_boot_id = boot_id
        self.boots = 1
        self.booted_at = clock.now - 3600
        self.down_until = None
        self.why_down = None
        self.announced = True
        self.crashes = []
        self.reboots = []
        self.dumps = [self._dump("202601010900", complete=True)]

    def _dump(self, stamp, complete):
        return {
            "dir": f"{DUMP_DIR}/{stamp}",
            "path": f"{DUMP_DIR}/{stamp}/dump.{stamp}",
            "time": f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[8:10]}:{stamp[10:]}:00",
            "size": 41943040 if complete else 4096,
            "complete": complete,
            "kernel": "6.1.0-18-amd64",
            "reason": None if complete else "flattened stream has no end marker (truncated)",
        }

    def stays_down(self):
        return self.why_down == "crash" and self.after_crash == "never" or (
            self.why_down == "reboot" and self.after_reboot == "never")

    def boot_if_due(self):
        """The "kernel": once the down time is over, boot again (a new boot_id)."""
        if self.down_until is None or self.stays_down() or self.clock.now < self.down_until:
            return
        booted = self.down_until
        self.down_until = None
        self.boots += 1
        self.booted_at = booted
        self.announced = False
        if self.why_down == "crash":
            stamp = f"2026010110{len(self.crashes):02d}"
            if self.after_crash in ("dump", "incomplete"):
                self.dumps.insert(0, self._dump(stamp, complete=self.after_crash == "dump"))
        else:
            self.pending = self.after_reboot == "still_pending"
            if self.after_reboot == "broken":
                self.ready = False

    @property
    def up(self):
        self.boot_if_due()
        return self.down_until is None

    @property
    def takes_jobs(self):
        return self.answers and self.up and self.clock.now >= self.booted_at + self.deaf

    def status(self):
        problems = [] if self.ready else ["the kdump-tools service is not running"]
        loaded = self.clock.now >= self.booted_at + self.settle
        if self.pending:
            problems.insert(0, "reboot pending: the boot loader gives crashkernel=256M, "
                               "the running kernel has crashkernel=128M")
        elif not loaded:
            problems.append("the crash kernel is not loaded: start the kdump service or run kdump.rebuild")
        return {"ready": not problems, "problems": problems, "reboot_pending": self.pending,
                "loaded": loaded, "reserved_bytes": 134217728, "free_bytes": 8 << 30,
                "estimate_bytes": 50 << 20, "os_family": "Debian", "target": dict(self.target),
                "dump_dir": self.target["path"] if self.target["type"] == "local" else None,
                "boot_id": self.fixed_boot_id or f"{self.id}-boot-{self.boots}"}

    def go_down(self, why, log):
        log.append(self.clock.now)
        self.why_down = why
        self.down_until = self.clock.now + self.down_for

    def crash(self, confirm):
        assert confirm == self.id
        if self.after_crash == "refuse":
            self.crashes.append(self.clock.now)
            return False
        self.go_down("crash", self.crashes)
        return True


class FakeLocalClient:
    def __init__(self, clock, minions):
        self.clock = clock
        self.minions = {minion.id: minion for minion in minions}
        self.calls = []
        self.jobs = {}

    def _match(self, tgt, tgt_type):
        if tgt_type == "list":
            return [mid for mid in tgt if mid in self.minions]
        assert tgt_type == "glob", tgt_type
        return [mid for mid in self.minions if fnmatch.fnmatch(mid, tgt)]

    def cmd(self, tgt, fun, arg=(), timeout=None, tgt_type="glob", full_return=False, kwarg=None,
            gather_job_timeout=None):
        assert full_return is True and timeout and gather_job_timeout == timeout
        self.calls.append((fun, tgt))
        answers = {}
        waited = False
        for mid in self._match(tgt, tgt_type):
            minion = self.minions[mid]
            if not minion.takes_jobs:
                answers[mid] = False  # as LocalClient.cmd marks a targeted minion that did not return
                waited = True
                continue
            answers[mid] = dict(self._answer(minion, fun, kwarg), jid="1")
        if waited:  # the call waited its whole timeout for the silent ones
            self.clock.now += timeout
        return answers

    @staticmethod
    def _answer(minion, fun, kwarg):
        if fun == "kdump.status":
            return {"ret": minion.status(), "retcode": 0}
        if fun == "vmcore.list" and minion.list_broken:
            return {"ret": "ERROR: cannot list /var/crash: Permission denied", "retcode": 1}
        if fun == "vmcore.list":
            return {"ret": [dict(entry) for entry in minion.dumps], "retcode": 0}
        if fun == "vmcore.analyze":
            assert kwarg["path"] == minion.dumps[0]["path"]
            return {"ret": {"panic": "Kernel panic - not syncing: sysrq triggered crash",
                            "call_trace": ["sysrq_handle_crash+0x16/0x20"], "crash": None}, "retcode": 0}
        raise AssertionError(f"unexpected call {fun}")

    def cmd_async(self, tgt, fun, arg=(), tgt_type="glob", kwarg=None):
        assert tgt_type == "list" and len(tgt) == 1
        self.calls.append((fun, tgt))
        minion = self.minions[tgt[0]]
        jid = f"2026{len(self.jobs):06d}"
        if fun in ("vmcore.list", "vmcore.analyze", "kdump.status"):
            # the job cache holds {"ret": ...} (no retcode) once the minion answered
            delay = minion.list_delay if fun == "vmcore.list" else minion.status_delay if fun == "kdump.status" else 0
            answer = self._answer(minion, fun, kwarg) if minion.takes_jobs and delay is not None else None
            self.jobs[jid] = {} if answer is None else (self.clock.now + delay, {minion.id: {"ret": answer["ret"]}})
            return jid
        assert fun in ("kdump.crash", "system.reboot"), fun
        if fun == "system.reboot":
            assert not kwarg
            minion.go_down("reboot", minion.reboots)
            self.jobs[jid] = {}
            return jid
        returned = minion.crash(**kwarg)
        self.jobs[jid] = {} if returned else {
            minion.id: {"ret": "ERROR: refusing to crash: kdump is not ready"}
        }
        return jid

    def get_cache_returns(self, jid):
        job = self.jobs[jid]
        if isinstance(job, tuple):  # an answer due at a time
            due, returns = job
            return returns if self.clock.now >= due else {}
        return job

    def acted(self, fun):
        return [tgt[0] for called, tgt in self.calls if called == fun]

    def crashed(self):
        return self.acted("kdump.crash")

    def rebooted(self):
        return self.acted("system.reboot")


class FakeBus:
    """The master event bus: a minion's ``salt/minion/<id>/start`` arrives when it boots."""

    def __init__(self, clock, client, lose=()):
        self.clock, self.client, self.lose = clock, client, set(lose)
        self.opened = self.closed = 0

    def __enter__(self):
        self.opened += 1
        return self

    def __exit__(self, *exc):
        self.closed += 1

    def _next_boot(self, until):
        due = [m for m in self.client.minions.values()
               if m.down_until is not None and not m.stays_down() and m.down_until <= until]
        return min(due, key=lambda m: m.down_until, default=None)

    def get_event(self, wait=5, tag="", full=False, no_block=False):
        assert tag == "salt/minion/" and full is True
        for minion in self.client.minions.values():
            minion.boot_if_due()
        fresh = [m for m in self.client.minions.values() if not m.announced]
        if not fresh and not no_block:
            minion = self._next_boot(self.clock.now + wait)
            if minion is None:
                self.clock.now += wait
                return None
            self.clock.now = max(self.clock.now, minion.down_until)
            minion.boot_if_due()
            fresh = [minion]
        if not fresh:
            return None
        fresh[0].announced = True
        if fresh[0].id in self.lose:
            return self.get_event(wait=0, tag=tag, full=full, no_block=True)
        return {"tag": f"salt/minion/{fresh[0].id}/start", "data": {"id": fresh[0].id}}


class Events:
    def __init__(self):
        self.fired = []

    def fire_event(self, data, tag):
        assert tag == "progress"
        data = dict(data)
        # every event names the outputter that prints it as one line (kdumplib.report)
        assert data.pop("outputter") == "kdump_report"
        self.fired.append(data)

    def kinds(self):
        return [event["kind"] for event in self.fired]


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def events():
    return Events()


@pytest.fixture
def configure_loader_modules(events):
    return {runner: {"__opts__": {"conf_file": "/etc/salt/master", "sock_dir": "/nonexistent"},
                     "__context__": {}, "__jid_event__": events}}


@pytest.fixture
def fleet(clock, monkeypatch):
    """fleet(Minion kwargs, ...) → the fake client the runner will use (and its event bus as
    ``client.bus``). ``lose=[id]``: the bus never delivers that minion's start event."""

    def build(*specs, lose=()):
        client = FakeLocalClient(clock, [Minion(clock, **spec) for spec in specs])
        client.bus = FakeBus(clock, client, lose)
        monkeypatch.setattr(runner, "_client", lambda: client)
        monkeypatch.setattr(runner, "_listener", lambda: client.bus)
        return client

    monkeypatch.setattr(runner, "_now", clock.time)
    monkeypatch.setattr(runner, "_sleep", clock.sleep)
    monkeypatch.setattr(runner, "_master_boot_id", lambda: MASTER_BOOT_ID)
    return build


def by_id(ret):
    """The return's records by minion id (the return lists them in stage order)."""
    records = {record["minion"]: record for record in ret["minions"]}
    assert len(records) == len(ret["minions"])
    return records


def assert_shape(ret):
    """Every runner return has the documented keys, and every record of a run the same keys."""
    assert set(ret) == {"runner", "result", "retcode", "test", "comment", "summary", "duration",
                        "started_at", "stages", "minions", "outputter"}
    # the start on the wall clock, so that a timeline can be set beside other clocks' events
    assert abs(time.time() - ret["duration"] - ret["started_at"]) < 60
    assert ret["outputter"] == "kdump_report"  # salt-run prints it with _output/kdump_report.py
    assert ret["retcode"] == (0 if ret["result"] else 1)
    assert runner.__context__["retcode"] == ret["retcode"]
    assert sum(ret["summary"].values()) == len(ret["minions"])
    keys = {frozenset(record) for record in ret["minions"]}
    assert len(keys) <= 1, keys
    for record in ret["minions"]:
        assert set(runner.crashplan.RECORD_KEYS) <= set(record)
    for stage in ret["stages"]:
        assert set(stage) == {"name", "minions", "status", "started", "ended"}


def test_all_pass_canary_first_then_waves(fleet, events, clock):
    client = fleet({"mid": "web1"}, {"mid": "web2", "down_for": 300}, {"mid": "web3"},
                   {"mid": "web4"})
    ret = runner.crashtest("web*", canary=1, wave_size=2, poll_interval=10, analyze=True)

    assert ret["result"] is True and ret["retcode"] == 0, ret
    assert_shape(ret)
    assert ret["runner"] == "kdump.crashtest"
    assert ret["summary"] == {"passed": 4, "failed": 0, "skipped": 0, "not_ready": 0,
                              "refused": 0, "planned": 0}
    assert ret["duration"] >= 120 + 300 + 120
    assert [(s["name"], s["minions"], s["status"]) for s in ret["stages"]] == [
        ("canary", ["web1"], "passed"),
        ("wave 1", ["web2", "web3"], "passed"),
        ("wave 2", ["web4"], "passed"),
    ]
    assert client.crashed() == ["web1", "web2", "web3", "web4"]
    # The wave is crashed only after the canary came back with its dump.
    web1, web2 = client.minions["web1"], client.minions["web2"]
    assert web2.crashes[0] >= web1.crashes[0] + web1.down_for
    record = by_id(ret)["web2"]
    assert record["status"] == "passed" and record["stage"] == "wave 1"
    assert 300 <= record["seconds"] <= 300 + 10 + 30  # one poll and one call timeout late at most
    assert record["dump"] == "/var/crash/202601011001/dump.202601011001"
    assert record["size"] == 41943040
    assert record["panic"] == "Kernel panic - not syncing: sysrq triggered crash"
    assert record["call_trace"] is True
    assert record["timeline"]["back"] - record["timeline"]["crash"] == record["seconds"]
    assert record["timeline"]["verified"] >= record["timeline"]["back"]
    assert ret["stages"][1]["started"] <= record["timeline"]["crash"] < ret["stages"][1]["ended"]
    assert ret["comment"] == "4 passed"
    kinds = [event["kind"] for event in events.fired]
    assert kinds[0] == "preflight" and kinds.count("stage") == 3 and kinds.count("back") == 4
    assert {"kind": "back", "stage": "canary", "minion": "web1",
            "seconds": by_id(ret)["web1"]["seconds"]} in events.fired


def test_a_crashed_minion_is_noticed_at_its_start_event_and_never_asked_while_down(fleet, clock):
    """P4: the runner's own overhead. A down minion is never asked (a call to it would cost
    the whole call timeout and delay noticing the other minion of the wave that is back)."""
    client = fleet({"mid": "fast", "down_for": 100}, {"mid": "slow", "down_for": 400})
    asked_while_down = []
    cmd = client.cmd

    def watching_cmd(tgt, fun, **kwargs):
        if fun == "kdump.status" and isinstance(tgt, list):
            asked_while_down.extend(m for m in tgt if not client.minions[m].up)
        return cmd(tgt, fun, **kwargs)

    client.cmd = watching_cmd
    ret = runner.crashtest("*", canary=0, wave_size=2, poll_interval=10, timeout=30)
    assert ret["result"] is True, ret
    assert asked_while_down == []
    records = by_id(ret)
    # back within one poll interval of its boot, whatever the other minion of the wave does
    assert 100 <= records["fast"]["seconds"] <= 100 + 10
    assert 400 <= records["slow"]["seconds"] <= 400 + 10
    assert records["fast"]["timeline"]["started"] <= records["fast"]["timeline"]["back"]
    # verified as soon as it is back, not when the slowest of its wave is
    assert records["fast"]["timeline"]["verified"] < records["slow"]["timeline"]["back"]


def test_a_minion_checked_slowly_does_not_hold_up_the_others_of_its_wave(fleet):
    """P4: the dump checks of a wave run side by side: the first minion back takes 40 s to
    list its dumps; the second, back 5 s later, is verified meanwhile."""
    fleet({"mid": "first", "down_for": 100, "list_delay": 40}, {"mid": "second", "down_for": 105})
    ret = runner.crashtest("*", canary=0, wave_size=2, poll_interval=5, timeout=60, analyze=True)
    assert ret["result"] is True, ret
    first, second = by_id(ret)["first"]["timeline"], by_id(ret)["second"]["timeline"]
    assert second["verified"] < first["verified"]
    assert second["verified"] - second["back"] < 5
    assert first["verified"] - first["back"] >= 40


def after_crash(client, mid):
    """The calls to ``mid`` after its kdump.crash job, in order."""
    calls = [fun for fun, tgt in client.calls if mid in tgt]
    return calls[calls.index("kdump.crash") + 1:]


def test_the_dump_listing_goes_out_just_before_the_status_that_finds_the_minion_back(fleet):
    """P4: the listing runs beside the status that finds a minion back, not one job after it."""
    client = fleet({"mid": "a", "down_for": 100})
    ret = runner.crashtest("a", canary=1, poll_interval=5, timeout=30)
    assert by_id(ret)["a"]["status"] == "passed", ret
    assert after_crash(client, "a") == ["vmcore.list", "kdump.status"]
    timeline = by_id(ret)["a"]["timeline"]
    assert timeline["verified"] == timeline["back"]


def test_a_listing_asked_in_a_round_that_did_not_find_the_minion_back_is_not_used(fleet):
    """A minion deaf for 25 s after its start answers neither the status nor the listing of
    that round; the next round asks both again and its listing is the one used."""
    client = fleet({"mid": "a", "down_for": 100, "deaf": 25})
    ret = runner.crashtest("a", canary=1, poll_interval=5, timeout=30)
    assert by_id(ret)["a"]["status"] == "passed", ret
    assert after_crash(client, "a") == ["vmcore.list", "kdump.status", "vmcore.list", "kdump.status"]


def test_a_listing_is_never_judged_without_a_status_that_says_the_minion_rebooted(fleet):
    """The listings answer (with a new dump even), but the status keeps its boot_id: the
    minion fails for not coming back, never passes on a listing."""
    client = fleet({"mid": "a", "down_for": 100, "boot_id": "same-boot"})
    ret = runner.crashtest("a", canary=1, poll_interval=5, timeout=30, reboot_timeout=200)
    record = by_id(ret)["a"]
    assert record["status"] == "failed" and record["reason"] == (
        "did not come back with a new boot_id within 200 s"), record
    assert record["dump"] is None and "verified" not in record["timeline"]
    assert after_crash(client, "a").count("vmcore.list") >= 2


def test_a_minion_slow_to_answer_its_status_holds_up_no_other(fleet):
    """P4: each kdump.status is a job of its own read from the job cache: the first minion
    back takes 12 s to answer its first status (a guest still starting its services); the
    second, back a second later, is checked and verified meanwhile."""
    fleet({"mid": "slow", "down_for": 100, "status_delay": 12}, {"mid": "quick", "down_for": 101})
    ret = runner.crashtest("*", canary=0, wave_size=2, poll_interval=5, timeout=30, analyze=True)
    assert ret["result"] is True, ret
    slow, quick = by_id(ret)["slow"]["timeline"], by_id(ret)["quick"]["timeline"]
    assert slow["back"] - slow["started"] >= 12
    assert quick["verified"] < slow["back"]
    assert quick["verified"] - quick["started"] < 1


def test_a_minion_that_never_lists_its_dumps_fails_alone(fleet):
    fleet({"mid": "mute", "list_delay": None}, {"mid": "fine"})
    ret = runner.crashtest("*", canary=0, wave_size=2, poll_interval=5, timeout=30)
    records = by_id(ret)
    assert records["mute"]["status"] == "failed", records["mute"]
    assert records["mute"]["reason"] == "did not answer vmcore.list after its reboot"
    assert records["mute"]["timeline"]["verified"] - records["mute"]["timeline"]["back"] >= 30
    assert records["fine"]["status"] == "passed"
    assert ret["result"] is False and ret["retcode"] == 1


def test_a_crashed_minion_whose_start_event_is_lost_is_found_by_the_last_poll(fleet):
    client = fleet({"mid": "a", "down_for": 100}, lose=["a"])
    ret = runner.crashtest("a", canary=1, reboot_timeout=300)
    assert by_id(ret)["a"]["status"] == "passed", ret
    assert "started" not in by_id(ret)["a"]["timeline"]
    assert client.crashed() == ["a"]


def test_canary_failure_stops_everything(fleet, clock):
    client = fleet({"mid": "web1", "after_crash": "never"}, {"mid": "web2"}, {"mid": "web3"})
    ret = runner.crashtest("web*", canary=1, wave_size=1, reboot_timeout=600, poll_interval=30)

    assert ret["result"] is False and ret["retcode"] == 1
    assert runner.__context__["retcode"] == 1
    assert client.crashed() == ["web1"]
    assert by_id(ret)["web1"]["status"] == "failed"
    assert by_id(ret)["web1"]["reason"] == "did not come back with a new boot_id within 600 s"
    for mid in ("web2", "web3"):
        assert by_id(ret)[mid]["status"] == "skipped"
        assert by_id(ret)[mid]["reason"] == "not crashed: the run stopped after the canary"
        assert client.minions[mid].crashes == []
    assert [s["status"] for s in ret["stages"]] == ["failed", "skipped", "skipped"]
    assert "stopped after the canary" in ret["comment"]
    # It waited the whole reboot_timeout, and no longer than one poll past it.
    assert 600 <= clock.now - client.minions["web1"].crashes[0] <= 630


def test_a_wave_failure_stops_later_waves(fleet):
    client = fleet({"mid": "a"}, {"mid": "b", "after_crash": "nodump"}, {"mid": "c"},
                   {"mid": "d"}, {"mid": "e"})
    ret = runner.crashtest("*", canary=1, wave_size=2)

    assert ret["result"] is False
    assert client.crashed() == ["a", "b", "c"]
    statuses = {mid: record["status"] for mid, record in by_id(ret).items()}
    assert [record["minion"] for record in ret["minions"]] == ["a", "b", "c", "d", "e"]
    assert statuses == {"a": "passed", "b": "failed", "c": "passed", "d": "skipped", "e": "skipped"}
    assert by_id(ret)["b"]["reason"] == "no new dump was saved"
    assert by_id(ret)["b"]["seconds"] is not None  # it came back, but without a dump
    assert by_id(ret)["d"]["reason"] == "not crashed: the run stopped after wave 1"
    assert ret["comment"] == (
        "2 passed, 1 failed, 2 skipped; stopped after wave 1: failures exceeded max_failures"
    )


def test_max_failures_lets_the_run_go_on_but_it_still_fails(fleet):
    client = fleet({"mid": "a", "after_crash": "incomplete"}, {"mid": "b"}, {"mid": "c"})
    ret = runner.crashtest("*", canary=1, wave_size=1, max_failures=1)
    assert client.crashed() == ["a", "b", "c"]
    assert ret["result"] is False and ret["retcode"] == 1
    assert by_id(ret)["a"]["reason"].startswith(
        "the new dump /var/crash/202601011001/dump.202601011001 is not complete"
    )


def test_not_ready_minions_are_never_crashed(fleet):
    client = fleet({"mid": "a"}, {"mid": "b", "ready": False}, {"mid": "c"})
    ret = runner.crashtest("*", canary=1, wave_size="100%")
    assert client.crashed() == ["a", "c"]
    assert ret["result"] is True
    record = by_id(ret)["b"]
    assert (record["status"], record["stage"], record["problems"]) == (
        "not_ready", None, ["the kdump-tools service is not running"])
    assert [record["minion"] for record in ret["minions"]] == ["a", "c", "b"]
    assert [s["minions"] for s in ret["stages"]] == [["a"], ["c"]]
    assert ret["comment"] == "2 passed, 1 not ready"


def test_none_ready_is_a_clear_error_and_nothing_crashes(fleet):
    client = fleet({"mid": "a", "ready": False})
    ret = runner.crashtest("*")
    assert ret["result"] is False and ret["retcode"] == 1
    assert ret["comment"] == "no targeted minion is ready; 1 not ready"
    assert client.crashed() == []
    ret = runner.crashtest("nomatch*")
    assert ret["comment"].startswith("no minion answered 'nomatch*'")


def test_a_minion_whose_dumps_cannot_be_listed_is_not_crashed(fleet):
    client = fleet({"mid": "a", "list_broken": True}, {"mid": "b"})
    ret = runner.crashtest("*", canary=1, wave_size=1)
    assert client.crashed() == ["b"]
    assert by_id(ret)["a"]["status"] == "not_ready"
    assert by_id(ret)["a"]["problems"] == [
        "vmcore.list failed: ERROR: cannot list /var/crash: Permission denied"]
    assert [(s["name"], s["minions"], s["status"]) for s in ret["stages"]] == [
        ("canary", ["b"], "passed")]
    client = fleet({"mid": "a", "list_broken": True})
    ret = runner.crashtest("*")
    assert ret["result"] is False and ret["comment"].startswith("no targeted minion is ready")
    assert client.crashed() == []


def test_a_minion_whose_dumps_land_elsewhere_is_skipped_not_crashed(fleet, events):
    """An ssh (or nfs, raw) target: vmcore.list on the minion could never show its new dump."""
    ssh = {"type": "ssh", "host": "dumps.example.com", "user": "kdump", "path": "/srv/crash"}
    client = fleet({"mid": "a", "target": ssh}, {"mid": "b"},
                   {"mid": "c", "target": {"type": "raw", "device": "/dev/vdc", "path": "/var/crash"}})
    ret = runner.crashtest("*", canary=1, wave_size=1)
    assert client.crashed() == ["b"]
    assert ret["result"] is True and ret["comment"] == "1 passed, 2 skipped"
    assert by_id(ret)["a"]["status"] == "skipped" and by_id(ret)["a"]["stage"] is None
    assert by_id(ret)["a"]["reason"] == (
        "not crashed: its dumps land on dumps.example.com:/srv/crash over ssh, and the crash test "
        "verifies a new dump on the minion itself (kdump_ssh.check tests the key and the dump host)")
    assert by_id(ret)["c"]["reason"].startswith("not crashed: its dumps land on the raw device /dev/vdc")
    assert [tgt for fun, tgt in client.calls if fun == "vmcore.list" and "a" in tgt] == []
    preflight = [event for event in events.fired if event["kind"] == "preflight"]
    assert preflight and preflight[0]["skipped"] == ["a", "c"] and preflight[0]["ready"] == ["b"]
    fleet({"mid": "d"})
    events.fired.clear()
    runner.crashtest("*")
    assert "skipped" not in events.fired[0]  # named only when some minion is skipped


def test_a_refused_crash_fails_at_once(fleet, clock):
    client = fleet({"mid": "a", "after_crash": "refuse"}, {"mid": "b"})
    start = clock.now
    ret = runner.crashtest("*", canary=1, wave_size=1, reboot_timeout=900, poll_interval=10)
    assert by_id(ret)["a"]["status"] == "failed"
    assert by_id(ret)["a"]["reason"] == "kdump.crash refused: ERROR: refusing to crash: kdump is not ready"
    assert clock.now - start < 60
    assert client.crashed() == ["a"]


def test_test_true_returns_the_plan_and_crashes_nothing(fleet):
    client = fleet({"mid": "a"}, {"mid": "b"}, {"mid": "c", "ready": False}, {"mid": "d"})
    for ret in (runner.crashtest("*", canary=1, wave_size=2, test=True),
                runner.plan("*", canary=1, wave_size=2)):
        assert ret["result"] is True and ret["test"] is True
        assert [(s["name"], s["minions"], s["status"]) for s in ret["stages"]] == [
            ("canary", ["a"], "planned"), ("wave 1", ["b", "d"], "planned")]
        assert by_id(ret)["c"]["status"] == "not_ready"
        assert ret["comment"].startswith("plan only (test=True), nothing crashed")
    assert client.crashed() == []
    assert {fun for fun, _tgt in client.calls} == {"kdump.status", "vmcore.list"}


@pytest.mark.parametrize(
    "kwargs, argument",
    [({"wave_size": "0%"}, "wave_size"), ({"canary": -1}, "canary"), ({"canary": "x"}, "canary"),
     ({"reboot_timeout": 0}, "reboot_timeout"), ({"reboot_timeout": -5}, "reboot_timeout"),
     ({"poll_interval": "x"}, "poll_interval"), ({"max_failures": "some"}, "max_failures"),
     ({"vmlinux": "vmlinux"}, "vmlinux"), ({"waves": []}, "waves"),
     ({"waves": [1, "0%"]}, "waves[1]"), ({"waves": [1], "wave_size": 2}, "waves")],
)
def test_bad_arguments_name_the_argument_and_fail_the_job(fleet, kwargs, argument):
    """salt-run exits with the returned retcode (a raised SaltInvocationError is a TypeError:
    salt's runner client prints it and exits 0), so a bad argument is a failed return."""
    client = fleet({"mid": "a"})
    ret = runner.crashtest("*", **kwargs)
    assert_shape(ret)
    assert ret["result"] is False and ret["retcode"] == 1
    assert ret["comment"].startswith(f"{argument}: "), ret["comment"]
    assert ret["minions"] == [] and ret["stages"] == []
    assert client.calls == []


def test_virtual_says_why_without_kdumplib(monkeypatch):
    assert runner.__virtual__() == "kdump"
    monkeypatch.setattr(runner, "crashplan", None)
    ok, why = runner.__virtual__()
    assert ok is False and "saltutil.sync_all" in why


# --------------------------------------------------------------------------- crash test: gaps


def test_waves_list_sizes_each_wave_and_the_last_size_repeats(fleet):
    client = fleet(*({"mid": f"m{i}"} for i in range(8)))
    ret = runner.crashtest("m*", canary=1, waves=[1, 2, "25%"])
    assert_shape(ret)
    assert [(s["name"], s["minions"]) for s in ret["stages"]] == [
        ("canary", ["m0"]), ("wave 1", ["m1"]), ("wave 2", ["m2", "m3"]),
        ("wave 3", ["m4", "m5"]), ("wave 4", ["m6", "m7"])]
    assert ret["result"] is True and client.crashed() == [f"m{i}" for i in range(8)]
    # The same list from the CLI as text.
    ret = runner.plan("m*", canary=0, waves="3, 50%")
    assert [len(s["minions"]) for s in ret["stages"]] == [3, 4, 1]


def test_a_target_that_includes_the_masters_host_is_refused_before_anything(fleet):
    client = fleet({"mid": "web1"}, {"mid": "master", "boot_id": MASTER_BOOT_ID},
                   {"mid": "web2", "ready": False})
    for ret in (runner.crashtest("*", canary=1, wave_size=1), runner.plan("*")):
        assert_shape(ret)
        assert ret["result"] is False and ret["retcode"] == 1
        assert ret["comment"] == ("refused: master runs on the master's own host; exclude it "
                                  "from the target. Nothing was crashed")
        records = by_id(ret)
        assert records["master"]["status"] == "refused"
        assert records["master"]["reason"].startswith(
            f"runs on the master's own host (its boot_id {MASTER_BOOT_ID} is the master's")
        assert records["web1"]["status"] == "skipped"
        assert records["web1"]["reason"] == "not crashed: the target includes the master's host"
        assert records["web2"]["status"] == "not_ready"
        assert ret["stages"] == []
    assert client.crashed() == []
    assert {fun for fun, _tgt in client.calls} == {"kdump.status"}
    # Without the master's host in the target, the same fleet runs.
    ret = runner.crashtest("web*", canary=1, wave_size=1)
    assert ret["result"] is True and client.crashed() == ["web1"]


def test_max_failures_tolerates_a_failing_minion_mid_run_and_reports_it(fleet):
    client = fleet({"mid": "a"}, {"mid": "b", "after_crash": "never"}, {"mid": "c"}, {"mid": "d"})
    ret = runner.crashtest("*", canary=1, waves=[1, 2], max_failures=1, reboot_timeout=300)
    assert_shape(ret)
    assert client.crashed() == ["a", "b", "c", "d"]
    assert [(s["name"], s["status"]) for s in ret["stages"]] == [
        ("canary", "passed"), ("wave 1", "failed"), ("wave 2", "passed")]
    assert ret["summary"]["passed"] == 3 and ret["summary"]["failed"] == 1
    assert ret["result"] is False and ret["retcode"] == 1
    assert ret["comment"] == "3 passed, 1 failed"
    assert by_id(ret)["b"]["reason"] == "did not come back with a new boot_id within 300 s"


def test_a_targeted_minion_that_does_not_answer_is_not_ready_and_says_so(fleet):
    client = fleet({"mid": "a"}, {"mid": "b", "answers": False})
    ret = runner.crashtest("*", canary=1, timeout=5)
    assert by_id(ret)["b"]["status"] == "not_ready"
    assert by_id(ret)["b"]["problems"] == ["kdump.status failed: did not answer within 5 s"]
    assert client.crashed() == ["a"]


# --------------------------------------------------------------------------- guarded reboot


def test_reboot_pending_reboots_only_pending_minions_in_batches(fleet, events, clock):
    client = fleet({"mid": "a", "pending": True, "down_for": 60},
                   {"mid": "b"},
                   {"mid": "c", "pending": True, "down_for": 200, "settle": 30},
                   {"mid": "d", "pending": True, "deaf": 25},
                   {"mid": "e", "ready": False})
    start = clock.now
    ret = runner.reboot_pending("*", confirm="*", batch=[1, 2], poll_interval=5, timeout=3)
    assert_shape(ret)
    assert ret["runner"] == "kdump.reboot_pending"
    assert ret["result"] is True and ret["retcode"] == 0, ret
    assert client.rebooted() == ["a", "c", "d"]
    assert [(s["name"], s["minions"], s["status"]) for s in ret["stages"]] == [
        ("batch 1", ["a"], "passed"), ("batch 2", ["c", "d"], "passed")]
    records = by_id(ret)
    assert [r["minion"] for r in ret["minions"]] == ["a", "c", "d", "b", "e"]
    for mid in ("a", "c", "d"):
        assert records[mid]["status"] == "ready" and records[mid]["ready"] is True
        assert records[mid]["problems"] == [] and records[mid]["reason"] is None
        assert records[mid]["boot_id"] == f"{mid}-boot-2"
        timeline = records[mid]["timeline"]
        assert timeline["reboot"] <= timeline["started"] <= timeline["back"] <= timeline["ready"]
    # Down time: reboot fired → answered with a new boot_id (the start event wakes the
    # runner at once; a minion deaf for 25 s after its start is asked again).
    assert records["a"]["seconds"] == 60
    assert 120 <= records["d"]["seconds"] <= 120 + 25 + 3 + 5
    # c answered at once but became ready only once its crash kernel was loaded.
    assert records["c"]["timeline"]["ready"] - records["c"]["timeline"]["back"] >= 30 - 5
    # Batch 2 started only after batch 1's minion was back and ready.
    assert client.minions["c"].reboots[0] >= client.minions["a"].reboots[0] + 60
    assert records["b"]["status"] == "not_pending" and records["b"]["ready"] is True
    assert records["b"]["reason"] == "not rebooted: no crashkernel reservation is pending"
    assert records["e"]["status"] == "not_pending" and records["e"]["ready"] is False
    assert records["e"]["problems"] == ["the kdump-tools service is not running"]
    assert ret["summary"] == {"ready": 3, "failed": 0, "skipped": 0, "not_pending": 2,
                              "unknown": 0, "refused": 0, "planned": 0}
    assert ret["comment"] == "3 ready, 2 not pending"
    assert ret["duration"] == round(clock.now - start, 1)
    assert client.bus.opened == client.bus.closed == 1
    kinds = events.kinds()
    assert kinds[0] == "preflight" and kinds.count("started") == 3 and kinds.count("back") == 3
    assert {"kind": "verified", "stage": "batch 2", "minion": "c", "status": "ready",
            "reason": None} in events.fired


def test_a_minion_that_never_returns_is_reported_after_its_timeout(fleet, clock):
    client = fleet({"mid": "a", "pending": True, "after_reboot": "never"},
                   {"mid": "b", "pending": True}, {"mid": "c", "pending": True})
    ret = runner.reboot_pending("*", confirm="*", batch=1, reboot_timeout=600, poll_interval=10)
    assert_shape(ret)
    assert ret["result"] is False and ret["retcode"] == 1
    assert client.rebooted() == ["a"]
    records = by_id(ret)
    assert records["a"]["status"] == "failed"
    assert records["a"]["reason"] == "did not come back with a new boot_id within 600 s"
    for mid in ("b", "c"):
        assert records[mid]["status"] == "skipped"
        assert records[mid]["reason"] == "not rebooted: the run stopped after batch 1"
    assert ret["comment"] == "1 failed, 2 skipped; stopped after batch 1: failures exceeded max_failures"
    # It waited the reboot_timeout, plus at most one last call.
    assert 600 <= clock.now - client.minions["a"].reboots[0] <= 600 + 30


def test_a_lost_start_event_is_caught_by_the_last_poll(fleet):
    client = fleet({"mid": "a", "pending": True}, lose=["a"])
    ret = runner.reboot_pending("a", confirm="a", reboot_timeout=300)
    assert by_id(ret)["a"]["status"] == "ready", ret
    assert "started" not in by_id(ret)["a"]["timeline"]
    assert client.rebooted() == ["a"]


def test_back_but_not_ready_is_a_failure_with_the_problems(fleet):
    client = fleet({"mid": "a", "pending": True, "after_reboot": "still_pending"},
                   {"mid": "b", "pending": True, "after_reboot": "broken"})
    ret = runner.reboot_pending("*", confirm="*", batch="100%", max_failures=5,
                                reboot_timeout=400, poll_interval=30)
    records = by_id(ret)
    assert client.rebooted() == ["a", "b"]
    assert records["a"]["status"] == "failed"
    assert records["a"]["reason"].startswith(
        "came back, but the crashkernel reservation is still pending: reboot pending: ")
    assert records["b"]["reason"] == (
        "came back, but kdump is not ready: the kdump-tools service is not running")
    assert records["b"]["seconds"] == 120 and records["b"]["ready"] is False
    assert ret["result"] is False and ret["comment"] == "2 failed"


@pytest.mark.parametrize("tgt, confirm", [
    ("web*", None), ("web*", "yes"), ("web*", True), ("web*", "web1"), ("web*", "*"),
    (["web1", "web2"], "web1")])
def test_reboot_refuses_without_a_confirm_that_repeats_the_target(fleet, tgt, confirm):
    client = fleet({"mid": "web1", "pending": True}, {"mid": "web2", "pending": True})
    ret = runner.reboot_pending(tgt, tgt_type="list" if isinstance(tgt, list) else "glob",
                                confirm=confirm)
    assert_shape(ret)
    assert ret["result"] is False and ret["retcode"] == 1
    assert ret["comment"].startswith(f"confirm: {confirm!r} does not repeat the target")
    assert client.calls == []


def test_a_list_target_is_confirmed_by_its_ids_joined(fleet):
    client = fleet({"mid": "web1", "pending": True}, {"mid": "web2", "pending": True})
    ret = runner.reboot_pending(["web1", "web2"], tgt_type="list", confirm="web1,web2", batch=2)
    assert ret["result"] is True and client.rebooted() == ["web1", "web2"]


def test_reboot_test_true_plans_without_confirm_and_reboots_nothing(fleet):
    client = fleet({"mid": "a", "pending": True}, {"mid": "b", "pending": True},
                   {"mid": "c", "pending": True}, {"mid": "d"})
    ret = runner.reboot_pending("*", batch="50%", test=True)
    assert_shape(ret)
    assert ret["result"] is True and ret["test"] is True
    assert [(s["name"], s["minions"], s["status"]) for s in ret["stages"]] == [
        ("batch 1", ["a", "b"], "planned"), ("batch 2", ["c"], "planned")]
    assert by_id(ret)["a"]["problems"][0].startswith("reboot pending: ")
    assert ret["comment"] == "plan only (test=True), nothing rebooted: 1 not pending, 3 planned"
    assert client.rebooted() == [] and client.bus.opened == 0


def test_reboot_never_touches_the_masters_host(fleet):
    client = fleet({"mid": "a", "pending": True},
                   {"mid": "master", "pending": True, "boot_id": MASTER_BOOT_ID})
    ret = runner.reboot_pending("*", confirm="*")
    assert ret["result"] is False
    assert ret["comment"] == ("refused: master runs on the master's own host; exclude it from "
                              "the target. Nothing was rebooted")
    assert by_id(ret)["master"]["status"] == "refused"
    assert by_id(ret)["a"]["status"] == "skipped"
    assert client.rebooted() == []


def test_nothing_pending_is_nothing_to_do(fleet):
    client = fleet({"mid": "a"}, {"mid": "b", "answers": False})
    ret = runner.reboot_pending("*", confirm="*", timeout=2)
    assert ret["result"] is True and client.rebooted() == []
    assert by_id(ret)["b"]["status"] == "unknown"
    assert by_id(ret)["b"]["reason"] == "not rebooted: kdump.status failed: did not answer within 2 s"
    assert ret["comment"] == ("no crashkernel reservation is pending, nothing to reboot: "
                              "1 not pending, 1 unknown")
    ret = runner.reboot_pending("nomatch*", confirm="nomatch*")
    assert ret["result"] is False and ret["comment"] == "no minion answered 'nomatch*'"


@pytest.mark.parametrize("kwargs, argument", [
    ({"batch": "0%"}, "batch"), ({"batch": [1, "x"]}, "batch[1]"), ({"batch": 0}, "batch"),
    ({"reboot_timeout": -5}, "reboot_timeout"), ({"max_failures": -1}, "max_failures"),
    ({"tgt": ""}, "tgt")])
def test_reboot_bad_arguments_fail_before_anything(fleet, kwargs, argument):
    client = fleet({"mid": "a", "pending": True})
    kwargs = {"tgt": "*", "confirm": "*", **kwargs}
    ret = runner.reboot_pending(**kwargs)
    assert ret["retcode"] == 1 and ret["comment"].startswith(f"{argument}: "), ret["comment"]
    assert client.calls == []


# --------------------------------------------------------------------------- audit


def test_audit_classifies_every_minion_and_crashes_nothing(fleet):
    client = fleet({"mid": "ok"}, {"mid": "pend", "pending": True}, {"mid": "stopped", "ready": False},
                   {"mid": "gone", "answers": False}, {"mid": "master", "boot_id": MASTER_BOOT_ID})
    client.minions["ok"].settle = 0
    ret = runner.audit("*", timeout=2)
    assert_shape(ret)
    assert ret["runner"] == "kdump.audit"
    records = by_id(ret)
    assert [r["minion"] for r in ret["minions"]] == ["gone", "master", "ok", "pend", "stopped"]
    assert {mid: r["status"] for mid, r in records.items()} == {
        "ok": "ready", "pend": "reboot_pending", "stopped": "not_ready", "gone": "no_answer",
        "master": "ready"}
    assert records["pend"]["reason"].startswith("reboot pending: the boot loader gives crashkernel=256M")
    assert records["stopped"]["reason"] == "the kdump-tools service is not running"
    assert records["gone"]["reason"] == "kdump.status failed: did not answer within 2 s"
    assert records["master"]["master_host"].startswith("runs on the master's own host")
    assert records["ok"]["master_host"] is None
    assert records["ok"]["free_bytes"] == 8 << 30 and records["ok"]["reserved_bytes"] == 134217728
    assert ret["summary"] == {"ready": 2, "reboot_pending": 1, "not_loaded": 0, "no_space": 0,
                              "not_ready": 1, "no_answer": 1}
    assert ret["result"] is False and ret["retcode"] == 1
    assert ret["comment"] == "2 ready, 1 reboot pending, 1 not ready, 1 no answer"
    assert {fun for fun, _tgt in client.calls} == {"kdump.status"}
    ret = runner.audit("ok")
    assert ret["result"] is True and ret["retcode"] == 0 and ret["comment"] == "1 ready"


def test_a_failure_in_the_last_stage_stops_nothing_and_says_so(fleet):
    fleet({"mid": "a"}, {"mid": "b", "after_crash": "nodump"})
    ret = runner.crashtest("*", canary=1, wave_size=1)
    assert ret["result"] is False and ret["comment"] == "1 passed, 1 failed"
    assert [s["status"] for s in ret["stages"]] == ["passed", "failed"]


@pytest.mark.parametrize("name, function", [("kdump_crashtest", "crashtest"),
                                            ("kdump_reboot", "reboot_pending")])
def test_orchestration_sls_and_pillar_example_pass_every_runner_argument(name, function):
    """salt/orch/<name>.sls passes each runner argument but test (the kdump_fleet state
    passes the orchestration's test=True); the commented block in pillar.example documents
    the same keys."""
    repo = pathlib.Path(__file__).resolve().parents[2]
    sls = (repo / "salt" / "orch" / f"{name}.sls").read_text(encoding="utf-8")
    keys = set(re.findall(r"'(\w+)'", re.search(r"set keys = \[(.*?)\]", sls, re.S).group(1)))
    arguments = set(inspect.signature(getattr(runner, function)).parameters) - {"test"}
    assert keys | {"tgt"} == arguments
    example = (repo / "pillar.example").read_text(encoding="utf-8").split(f"# {name}:\n", 1)[1]
    block = example.split("\n\n", 1)[0]
    documented = set(re.findall(r"^#   (\w+):", block, re.M))
    assert documented | ({"waves"} if name == "kdump_crashtest" else set()) == arguments
