"""kdumplib.crashplan: the fleet crash test's decisions, without Salt."""

import pytest

from kdumplib import crashplan


def status(ready=True, boot_id="b-1", problems=()):
    return {"ready": ready, "boot_id": boot_id, "problems": list(problems)}


def dump(directory, complete=True, time="2026-01-01T12:00:00", path=True, reason=None):
    return {
        "dir": directory,
        "path": f"{directory}/dump.x" if path else None,
        "time": time,
        "complete": complete,
        "size": 4112,
        "reason": reason,
    }


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "value, total, expected",
    [(1, 10, 1), (3, 10, 3), ("4", 10, 4), ("25%", 10, 3), ("25%", 3, 1), ("100%", 7, 7),
     ("1%", 5, 1), (" 50 % ", 4, 2), ("12.5%", 16, 2)],
)
def test_wave_size_integer_or_percentage_rounded_up(value, total, expected):
    assert crashplan.parse_wave_size(value, total) == expected


@pytest.mark.parametrize("value", [0, -1, "0%", "101%", "abc", "%", 1.5, None, True, "2 minions"])
def test_wave_size_errors_name_the_argument(value):
    with pytest.raises(ValueError) as err:
        crashplan.parse_wave_size(value, 10)
    assert str(err.value).startswith("wave_size: ")


@pytest.mark.parametrize("value", [-1, "x", 1.0, False, None])
def test_count_errors_name_the_argument(value):
    with pytest.raises(ValueError) as err:
        crashplan.parse_count("canary", value)
    assert str(err.value).startswith("canary: ")


def test_count_accepts_digits_from_the_cli():
    assert crashplan.parse_count("max_failures", "2") == 2
    assert crashplan.parse_count("canary", 0) == 0


@pytest.mark.parametrize("value, expected", [(900, 900), ("0.5", 0.5), (2.5, 2.5)])
def test_seconds(value, expected):
    assert crashplan.parse_seconds("reboot_timeout", value) == expected


@pytest.mark.parametrize("value", [0, -3, "soon", float("nan"), float("inf"), True, None])
def test_seconds_errors_name_the_argument(value):
    with pytest.raises(ValueError) as err:
        crashplan.parse_seconds("poll_interval", value)
    assert str(err.value).startswith("poll_interval: ")


# --------------------------------------------------------------------------- pre-flight


def test_preflight_splits_ready_from_the_rest_with_their_problems():
    ready, not_ready = crashplan.preflight(
        {
            "web2": status(),
            "web1": status(),
            "db1": status(ready=False, problems=["the kdump-tools service is not running"]),
            "old": "'kdump.status' is not available.",
            "nobootid": status(boot_id=None),
        }
    )
    assert ready == ["web1", "web2"]
    assert not_ready["db1"] == ["the kdump-tools service is not running"]
    assert not_ready["old"] == ["kdump.status failed: 'kdump.status' is not available."]
    assert not_ready["nobootid"][0].startswith("no boot_id")
    assert set(not_ready) == {"db1", "old", "nobootid"}


def test_unverifiable_names_the_minions_whose_dumps_the_runner_cannot_see():
    local = {**status(), "dump_dir": "/var/crash", "target": {"type": "local", "path": "/var/crash"}}
    nfs = {**status(), "dump_dir": None, "target": {"type": "nfs", "host": "nas:/export", "path": "/crash"}}
    unmounted = {**status(), "dump_dir": None, "target": {"type": "device", "device": "/dev/vg/lv"}}
    before = status()  # a kdump.status from before dump_dir existed: verified as it always was
    found = crashplan.unverifiable({"l": local, "n": nfs, "u": unmounted, "old": before}, ["l", "n", "u", "old"])
    assert found == {
        "n": "not crashed: its dumps land on nas:/export:/crash over nfs, and the crash test "
             "verifies a new dump on the minion itself",
        "u": "not crashed: its dumps land in no directory kdump.status could name, and the crash "
             "test verifies a new dump on the minion itself",
    }
    assert crashplan.unverifiable({"n": nfs}, []) == {}  # only the ready minions are looked at


# --------------------------------------------------------------------------- plan


def test_plan_canary_then_waves_in_order():
    stages = crashplan.plan(["a", "b", "c", "d", "e", "f"], canary=1, wave_size=2)
    assert stages == [
        {"name": "canary", "minions": ["a"]},
        {"name": "wave 1", "minions": ["b", "c"]},
        {"name": "wave 2", "minions": ["d", "e"]},
        {"name": "wave 3", "minions": ["f"]},
    ]


def test_plan_percentage_is_of_all_ready_minions():
    stages = crashplan.plan([f"m{i:02d}" for i in range(10)], canary=2, wave_size="50%")
    assert [len(stage["minions"]) for stage in stages] == [2, 5, 3]
    assert [m for stage in stages for m in stage["minions"]] == [f"m{i:02d}" for i in range(10)]


def test_plan_without_canary_and_with_more_canaries_than_minions():
    assert crashplan.plan(["a", "b"], canary=0, wave_size=5) == [{"name": "wave 1", "minions": ["a", "b"]}]
    assert crashplan.plan(["a", "b"], canary=3, wave_size=1) == [{"name": "canary", "minions": ["a", "b"]}]
    assert crashplan.plan([], canary=1, wave_size=1) == []


def test_plan_refuses_bad_arguments_by_name():
    with pytest.raises(ValueError, match="^canary: "):
        crashplan.plan(["a"], canary=-1)
    with pytest.raises(ValueError, match="^wave_size: "):
        crashplan.plan(["a"], wave_size="0%")


# --------------------------------------------------------------------------- new dump


def test_new_dump_is_the_newest_complete_entry_not_seen_before():
    before = [dump("/var/crash/202601011100", time="2026-01-01T11:00:00")]
    after = [
        dump("/var/crash/202601011300", time="2026-01-01T13:00:00"),
        dump("/var/crash/202601011200", time="2026-01-01T12:00:00"),
    ] + before
    entry, reason = crashplan.new_dump(before, after)
    assert reason is None
    assert entry["dir"] == "/var/crash/202601011300"


def test_no_new_dump_when_only_old_ones_are_listed():
    before = [dump("/var/crash/202601011100")]
    assert crashplan.new_dump(before, list(before)) == (None, "no new dump was saved")
    assert crashplan.new_dump([], []) == (None, "no new dump was saved")


def test_an_incomplete_new_dump_is_not_a_pass_and_says_why():
    after = [dump("/var/crash/202601011200", complete=False,
                  reason="flattened stream has no end marker (truncated)")]
    entry, reason = crashplan.new_dump([], after)
    assert entry is None
    assert reason == ("the new dump /var/crash/202601011200/dump.x is not complete: "
                      "flattened stream has no end marker (truncated)")


def test_a_dmesg_only_directory_is_not_a_dump():
    entry, reason = crashplan.new_dump([], [dump("/var/crash/202601011200", complete=False, path=False,
                                                 reason="no dump file in the directory")])
    assert entry is None and "/var/crash/202601011200 is not complete" in reason


def test_a_failed_listing_is_not_a_pass():
    assert crashplan.new_dump([], "ERROR: boom") == (None, "vmcore.list failed: ERROR: boom")


# --------------------------------------------------------------------------- budget, comment


def test_failure_budget():
    assert not crashplan.over_budget(0, 0)
    assert crashplan.over_budget(1, 0)
    assert not crashplan.over_budget(1, 1)
    assert crashplan.over_budget(2, 1)


def test_comment_counts_and_says_where_it_stopped():
    records = [{"status": status} for status in ("passed", "failed", "skipped", "skipped", "not_ready")]
    assert crashplan.comment(records, "wave 1") == (
        "1 passed, 1 failed, 2 skipped, 1 not ready; "
        "stopped after wave 1: failures exceeded max_failures"
    )
    assert crashplan.comment([]) == "no minion"
    assert crashplan.comment([{"status": "failed"}], "canary") == (
        "1 failed; stopped after the canary: failures exceeded max_failures")


def test_summary_has_every_status_in_order():
    records = [{"status": "failed"}, {"status": "passed"}, {"status": "failed"}]
    assert list(crashplan.summary(records).items()) == [
        ("passed", 1), ("failed", 2), ("skipped", 0), ("not_ready", 0), ("refused", 0), ("planned", 0)]
    assert crashplan.summary([{"status": "ready"}], ("ready", "failed")) == {"ready": 1, "failed": 0}


# --------------------------------------------------------------------------- waves


@pytest.mark.parametrize("waves, total, sizes", [
    ([1, 2, "50%"], 10, [1, 2, 5]), (["25%"], 3, [1]), ("1,2, 50%", 4, [1, 2, 2]),
    ("[1, '2']", 4, [1, 2]), ((3,), 9, [3])])
def test_waves_are_checked_then_sized(waves, total, sizes):
    assert crashplan.wave_sizes(crashplan.parse_waves(waves), total) == sizes


@pytest.mark.parametrize("waves, message", [
    ([], "waves: [] is not a non-empty list"), (5, "waves: 5 is not a non-empty list"),
    ([1, 0], "waves[1]: 0 is neither"), (["1", "0%"], "waves[1]: '0%' must be a percentage"),
    ([True], "waves[0]: True is neither"), ("", "waves[0]: '' is neither")])
def test_bad_waves_name_the_entry(waves, message):
    with pytest.raises(ValueError) as err:
        crashplan.parse_waves(waves)
    assert str(err.value).startswith(message)


def test_plan_with_waves_repeats_the_last_size():
    stages = crashplan.plan([f"m{i}" for i in range(9)], canary=1, waves=[1, "25%"])
    assert [(s["name"], len(s["minions"])) for s in stages] == [
        ("canary", 1), ("wave 1", 1), ("wave 2", 3), ("wave 3", 3), ("wave 4", 1)]
    assert [m for s in stages for m in s["minions"]] == [f"m{i}" for i in range(9)]
    assert crashplan.plan(["a", "b", "c"], canary=0, waves=[2], label="batch") == [
        {"name": "batch 1", "minions": ["a", "b"]}, {"name": "batch 2", "minions": ["c"]}]


# --------------------------------------------------------------------------- records, guard


def test_records_carry_every_shared_key_and_are_listed_in_stage_order():
    record = crashplan.new_record("web1", "planned", stage="canary", kernel="6.1")
    assert set(record) == set(crashplan.RECORD_KEYS) | {"kernel"}
    assert (record["minion"], record["problems"], record["timeline"], record["dump"]) == (
        "web1", [], {}, None)
    records = {m: crashplan.new_record(m, "planned") for m in ("z", "b", "a", "c")}
    stages = [{"name": "canary", "minions": ["c"]}, {"name": "wave 1", "minions": ["b", "a"]}]
    assert [r["minion"] for r in crashplan.ordered(records, stages)] == ["c", "b", "a", "z"]


def test_the_masters_host_is_the_minion_on_the_masters_kernel():
    statuses = {"web1": status(boot_id="b-1"), "self": status(boot_id="m-1"),
                "broken": "ERROR", "container": status(ready=False, boot_id="m-1")}
    guarded = crashplan.on_master_host(statuses, "m-1")
    assert list(guarded) == ["container", "self"]
    assert guarded["self"].startswith("runs on the master's own host (its boot_id m-1 is")
    assert crashplan.on_master_host(statuses, None) == {}
