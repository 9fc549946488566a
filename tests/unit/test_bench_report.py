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
