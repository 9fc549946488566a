"""_runners/kdump.py against a fake fleet: a fake LocalClient whose minions crash, stay down
for a while on a fake clock, and come back with a new boot_id and (or without) a new dump.
The runner's clock and sleep are the fake clock's, so hours of waiting take milliseconds."""

import fnmatch

import pytest
from salt.exceptions import SaltInvocationError

from _runners import kdump as runner

DUMP_DIR = "/var/crash"


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
    "refuse" (kdump.crash raises, the host stays up)."""

    def __init__(self, clock, mid, ready=True, after_crash="dump", down_for=120, list_broken=False):
        self.clock, self.id, self.ready, self.list_broken = clock, mid, ready, list_broken
        self.after_crash, self.down_for = after_crash, down_for
        self.boots = 1
        self.down_until = None
        self.crashes = []
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

    @property
    def up(self):
        if self.down_until is None:
            return True
        if self.after_crash == "never" or self.clock.now < self.down_until:
            return False
        # The "kernel" saved (or not) its dump and booted again.
        self.down_until = None
        self.boots += 1
        stamp = f"2026010110{len(self.crashes):02d}"
        if self.after_crash in ("dump", "incomplete"):
            self.dumps.insert(0, self._dump(stamp, complete=self.after_crash == "dump"))
        return True

    def status(self):
        problems = [] if self.ready else ["the kdump-tools service is not running"]
        return {"ready": self.ready, "problems": problems, "boot_id": f"{self.id}-boot-{self.boots}"}

    def crash(self, confirm):
        assert confirm == self.id
        self.crashes.append(self.clock.now)
        if self.after_crash == "refuse":
            return False
        self.down_until = self.clock.now + self.down_for
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
        for mid in self._match(tgt, tgt_type):
            minion = self.minions[mid]
            if not minion.up:
                continue
            if fun == "kdump.status":
                ret = minion.status()
            elif fun == "vmcore.list" and minion.list_broken:
                answers[mid] = {"ret": "ERROR: cannot list /var/crash: Permission denied",
                                "retcode": 1, "jid": "1"}
                continue
            elif fun == "vmcore.list":
                ret = [dict(entry) for entry in minion.dumps]
            elif fun == "vmcore.analyze":
                assert kwarg["path"] == minion.dumps[0]["path"]
                ret = {"panic": "Kernel panic - not syncing: sysrq triggered crash",
                       "call_trace": ["sysrq_handle_crash+0x16/0x20"], "crash": None}
            else:
                raise AssertionError(f"unexpected call {fun}")
            answers[mid] = {"ret": ret, "retcode": 0, "jid": "1"}
        return answers

    def cmd_async(self, tgt, fun, arg=(), tgt_type="glob", kwarg=None):
        assert fun == "kdump.crash" and tgt_type == "list" and len(tgt) == 1
        self.calls.append((fun, tgt))
        minion = self.minions[tgt[0]]
        jid = f"2026{len(self.jobs):06d}"
        returned = minion.crash(**kwarg)
        self.jobs[jid] = {} if returned else {
            minion.id: {"ret": "ERROR: refusing to crash: kdump is not ready"}
        }
        return jid

    def get_cache_returns(self, jid):
        return self.jobs[jid]

    def crashed(self):
        return [tgt[0] for fun, tgt in self.calls if fun == "kdump.crash"]


class Events:
    def __init__(self):
        self.fired = []

    def fire_event(self, data, tag):
        assert tag == "progress"
        data = dict(data)
        # every event names the outputter that prints it as one line (kdumplib.report)
        assert data.pop("outputter") == "kdump_report"
        self.fired.append(data)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def events():
    return Events()


@pytest.fixture
def configure_loader_modules(events):
    return {runner: {"__opts__": {"conf_file": "/etc/salt/master"}, "__context__": {},
                     "__jid_event__": events}}


@pytest.fixture
def fleet(clock, monkeypatch):
    """fleet(Minion kwargs, ...) → the fake client the runner will use."""

    def build(*specs):
        client = FakeLocalClient(clock, [Minion(clock, **spec) for spec in specs])
        monkeypatch.setattr(runner, "_client", lambda: client)
        return client

    monkeypatch.setattr(runner, "_now", clock.time)
    monkeypatch.setattr(runner, "_sleep", clock.sleep)
    return build


def test_all_pass_canary_first_then_waves(fleet, events, clock):
    client = fleet({"mid": "web1"}, {"mid": "web2", "down_for": 300}, {"mid": "web3"},
                   {"mid": "web4"})
    ret = runner.crashtest("web*", canary=1, wave_size=2, poll_interval=10, analyze=True)

    assert ret["result"] is True and ret["retcode"] == 0, ret
    assert runner.__context__["retcode"] == 0
    assert [(s["name"], s["minions"], s["status"]) for s in ret["stages"]] == [
        ("canary", ["web1"], "passed"),
        ("wave 1", ["web2", "web3"], "passed"),
        ("wave 2", ["web4"], "passed"),
    ]
    assert client.crashed() == ["web1", "web2", "web3", "web4"]
    # The wave is crashed only after the canary came back with its dump.
    web1, web2 = client.minions["web1"], client.minions["web2"]
    assert web2.crashes[0] >= web1.crashes[0] + web1.down_for
    record = ret["minions"]["web2"]
    assert record["status"] == "passed" and record["stage"] == "wave 1"
    assert 300 <= record["seconds"] <= 310
    assert record["dump"] == "/var/crash/202601011001/dump.202601011001"
    assert record["size"] == 41943040
    assert record["panic"] == "Kernel panic - not syncing: sysrq triggered crash"
    assert record["call_trace"] is True
    assert ret["comment"] == "4 passed"
    kinds = [event["kind"] for event in events.fired]
    assert kinds[0] == "preflight" and kinds.count("stage") == 3 and kinds.count("back") == 4
    assert {"kind": "back", "stage": "canary", "minion": "web1", "seconds": 120.0} in events.fired


def test_canary_failure_stops_everything(fleet, clock):
    client = fleet({"mid": "web1", "after_crash": "never"}, {"mid": "web2"}, {"mid": "web3"})
    ret = runner.crashtest("web*", canary=1, wave_size=1, reboot_timeout=600, poll_interval=30)

    assert ret["result"] is False and ret["retcode"] == 1
    assert runner.__context__["retcode"] == 1
    assert client.crashed() == ["web1"]
    assert ret["minions"]["web1"]["status"] == "failed"
    assert ret["minions"]["web1"]["reason"] == "did not come back with a new boot_id within 600 s"
    for mid in ("web2", "web3"):
        assert ret["minions"][mid]["status"] == "skipped"
        assert ret["minions"][mid]["reason"] == "not crashed: the run stopped after the canary"
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
    statuses = {mid: record["status"] for mid, record in ret["minions"].items()}
    assert statuses == {"a": "passed", "b": "failed", "c": "passed", "d": "skipped", "e": "skipped"}
    assert ret["minions"]["b"]["reason"] == "no new dump was saved"
    assert ret["minions"]["b"]["seconds"] is not None  # it came back, but without a dump
    assert ret["minions"]["d"]["reason"] == "not crashed: the run stopped after wave 1"
    assert ret["comment"] == (
        "2 passed, 1 failed, 2 skipped; stopped after wave 1: failures exceeded max_failures"
    )


def test_max_failures_lets_the_run_go_on_but_it_still_fails(fleet):
    client = fleet({"mid": "a", "after_crash": "incomplete"}, {"mid": "b"}, {"mid": "c"})
    ret = runner.crashtest("*", canary=1, wave_size=1, max_failures=1)
    assert client.crashed() == ["a", "b", "c"]
    assert ret["result"] is False and ret["retcode"] == 1
    assert ret["minions"]["a"]["reason"].startswith(
        "the new dump /var/crash/202601011001/dump.202601011001 is not complete"
    )


def test_not_ready_minions_are_never_crashed(fleet):
    client = fleet({"mid": "a"}, {"mid": "b", "ready": False}, {"mid": "c"})
    ret = runner.crashtest("*", canary=1, wave_size="100%")
    assert client.crashed() == ["a", "c"]
    assert ret["result"] is True
    assert ret["minions"]["b"] == {"status": "not_ready", "stage": None,
                                   "problems": ["the kdump-tools service is not running"]}
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
    assert ret["minions"]["a"]["status"] == "not_ready"
    assert ret["minions"]["a"]["problems"] == [
        "vmcore.list failed: ERROR: cannot list /var/crash: Permission denied"]
    assert [(s["name"], s["minions"], s["status"]) for s in ret["stages"]] == [
        ("canary", ["b"], "passed")]
    client = fleet({"mid": "a", "list_broken": True})
    ret = runner.crashtest("*")
    assert ret["result"] is False and ret["comment"].startswith("no targeted minion is ready")
    assert client.crashed() == []


def test_a_refused_crash_fails_at_once(fleet, clock):
    client = fleet({"mid": "a", "after_crash": "refuse"}, {"mid": "b"})
    start = clock.now
    ret = runner.crashtest("*", canary=1, wave_size=1, reboot_timeout=900, poll_interval=10)
    assert ret["minions"]["a"]["status"] == "failed"
    assert ret["minions"]["a"]["reason"] == "kdump.crash refused: ERROR: refusing to crash: kdump is not ready"
    assert clock.now - start < 60
    assert client.crashed() == ["a"]


def test_test_true_returns_the_plan_and_crashes_nothing(fleet):
    client = fleet({"mid": "a"}, {"mid": "b"}, {"mid": "c", "ready": False}, {"mid": "d"})
    for ret in (runner.crashtest("*", canary=1, wave_size=2, test=True),
                runner.plan("*", canary=1, wave_size=2)):
        assert ret["result"] is True and ret["test"] is True
        assert [(s["name"], s["minions"], s["status"]) for s in ret["stages"]] == [
            ("canary", ["a"], "planned"), ("wave 1", ["b", "d"], "planned")]
        assert ret["minions"]["c"]["status"] == "not_ready"
        assert ret["comment"].startswith("plan only (test=True), nothing crashed")
    assert client.crashed() == []
    assert {fun for fun, _tgt in client.calls} == {"kdump.status", "vmcore.list"}


@pytest.mark.parametrize(
    "kwargs, argument",
    [({"wave_size": "0%"}, "wave_size"), ({"canary": -1}, "canary"),
     ({"reboot_timeout": 0}, "reboot_timeout"), ({"poll_interval": "x"}, "poll_interval"),
     ({"max_failures": "some"}, "max_failures"), ({"vmlinux": "vmlinux"}, "vmlinux")],
)
def test_bad_arguments_name_the_argument(fleet, kwargs, argument):
    client = fleet({"mid": "a"})
    with pytest.raises(SaltInvocationError) as err:
        runner.crashtest("*", **kwargs)
    assert str(err.value).startswith(f"{argument}: ")
    assert client.calls == []


def test_virtual_says_why_without_kdumplib(monkeypatch):
    assert runner.__virtual__() == "kdump"
    monkeypatch.setattr(runner, "crashplan", None)
    ok, why = runner.__virtual__()
    assert ok is False and "saltutil.sync_all" in why
