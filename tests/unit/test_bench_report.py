"""bench/report.py: recorded e2e timings read back and laid out per key and run."""

import json

from bench import report


def test_load_flattens_phases_and_keeps_run_order(tmp_path):
    runs = [{"recorded_at": "a", "phases": {"boot1": {"step": 300.5}}, "steps_passed": ["x"]},
            {"recorded_at": "b", "phases": {"boot1": {"step": 280.0}, "boot2": {"crash_to_exit": 40}}}]
    (tmp_path / "e2e-scenario.json").write_text(json.dumps({"latest": runs[-1], "runs": runs}))
    (tmp_path / "old-format.json").write_text(json.dumps({"seconds": 3}))
    loaded = report.load(tmp_path)
    assert loaded["e2e-scenario"] == [
        {"recorded_at": "a", "phases.boot1.step": 300.5},
        {"recorded_at": "b", "phases.boot1.step": 280.0, "phases.boot2.crash_to_exit": 40},
    ]
    assert loaded["old-format"] == [{"seconds": 3}]


def test_render_has_a_row_per_key_and_a_column_per_run(tmp_path):
    loaded = {"e2e-scenario": [{"phases.boot1.step": 300.5}, {"phases.boot1.step": 280.0, "vmcore_bytes": 26}]}
    lines = report.render(loaded, last=2).splitlines()
    assert lines[0] == "== e2e-scenario (last 2 of the recorded runs)"
    assert lines[1].split() == ["phases.boot1.step", "300.5", "280"]
    assert lines[2].split() == ["vmcore_bytes", "-", "26"]


def test_targets_take_the_worst_minion_and_judge_against_the_limit():
    runs = {
        "e2e-fleet": {"p1": {"ratio": 1.2},
                      "p2": {"panic_to_dump_saved": [40.5, 52.0], "vmcore_to_ram": [0.03, 0.04]},
                      "p4": {"per_minion": {"a": {"runner_overhead": 3.1}, "b": {"runner_overhead": 7.0}},
                             "wave_to_canary": 1.1},
                      "module_seconds": 1500.0},
        "pytest-session": {"seconds": 2400.0, "warm": True},
    }
    rows = {(pid, what.split(" ")[0]): (value, limit) for pid, what, value, _unit, limit in report.targets(runs)}
    assert rows[("P1", "idempotent")] == (1.2, 1.5)
    assert rows[("P2", "panic")] == (52.0, None)
    assert rows[("P2", "vmcore")] == (0.04, 0.10)
    assert rows[("P4", "runner")] == (7.0, 5)
    assert rows[("P5", "pytest")] == (2400.0, 45 * 60)
    assert rows[("P5", "single-host")] == (None, 15 * 60)
    table = report.render_targets(runs, {}).splitlines()
    assert [line.split()[-1] for line in table[1:6]] == ["yes", "-", "yes", "NO", "yes"]
