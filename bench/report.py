"""Set the recorded e2e measurements beside their targets and the committed reference.

Why: tests never assert on time, they record it (``artifacts/bench/*.json``, untracked, written
by the e2e tier); this prints what was measured last (P1, P2, P4, P5 of issue 10) next to the
target and to the reference run committed in ``bench/reference/``, and the last runs of every
benchmark side by side. ``python bench/report.py [--last N] [--json]``.
Each results file holds ``{"latest": {...}, "runs": [...]}`` (the last ten runs).
"""

import argparse
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH.parent / "artifacts" / "bench"
REFERENCE = BENCH / "reference"


def _flatten(record, prefix=""):
    """``{"phases": {"boot1": {"step": 1}}}`` → ``{"phases.boot1.step": 1}``; lists are skipped."""
    flat = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif not isinstance(value, list):
            flat[name] = value
    return flat


def _runs(path):
    data = json.loads(path.read_text(encoding="utf-8"))
    return data.get("runs") or ([data["latest"]] if "latest" in data else [data])


def load(results_dir=RESULTS):
    """``{benchmark name: [flattened run, ...]}`` for every results file, oldest run first."""
    return {path.stem: [_flatten(run) for run in _runs(path)] for path in sorted(Path(results_dir).glob("*.json"))}


def latest(results_dir):
    """``{benchmark name: latest raw run}``."""
    return {path.stem: _runs(path)[-1] for path in sorted(Path(results_dir).glob("*.json"))}


def _get(run, *keys):
    for key in keys:
        if not isinstance(run, dict):
            return None
        run = run.get(key)
    return run


def _max(values):
    values = [v for v in (values or []) if v is not None]
    return max(values) if values else None


def targets(runs):
    """The measured values of issue 10's targets from one set of latest runs:
    ``[(id, what, value, unit, limit)]``; a value is None when that benchmark has not run."""
    fleet, scenario, session = runs.get("e2e-fleet"), runs.get("e2e-scenario"), runs.get("pytest-session")
    per_minion = (_get(fleet, "p4", "per_minion") or {}).values()
    scenario_s = sum(p.get("total", 0) for p in (_get(scenario, "phases") or {}).values()) or None
    warm = _get(session, "warm")
    return [
        ("P1", "idempotent state.apply kdump / empty SLS (same boot)", _get(fleet, "p1", "ratio"), "x", 1.5),
        ("P2", "panic -> dump saved, default pillar (console, host clock)",
         _max(_get(fleet, "p2", "panic_to_dump_saved")), "s", None),
        ("P2", "vmcore bytes / guest RAM", _max(_get(fleet, "p2", "vmcore_to_ram")), "", 0.10),
        ("P4", "runner overhead per minion (crash -> panic + start event -> verified), worst",
         _max(p.get("runner_overhead") for p in per_minion), "s", 5),
        ("P4", "wave of two / canary cycle", _get(fleet, "p4", "wave_to_canary"), "x", 1.3),
        ("P5", f"pytest session wall time ({'warm' if warm else 'cold' if warm is False else '?'})",
         _get(session, "seconds"), "s", 45 * 60 if warm else 55 * 60),
        ("P5", "single-host scenario, sum of its boots", scenario_s, "s", 15 * 60),
        ("P5", "fleet module wall time", _get(fleet, "module_seconds"), "s", None),
    ]


def _cell(value):
    if isinstance(value, float):
        return f"{value:g}"
    return "-" if value is None else str(value)


def render_targets(current, reference):
    lines = [f"{'':4}{'measure':<70}{'last run':>10}{'reference':>11}{'target':>9}  ok"]
    for (pid, what, value, unit, limit), (_p, _w, ref, _u, _l) in zip(targets(current), targets(reference)):
        ok = "-" if value is None or limit is None else ("yes" if value <= limit else "NO")
        bound = "-" if limit is None else f"<={limit:g}{unit}"
        lines.append(f"{pid:<4}{what:<70}{_cell(value):>10}{_cell(ref):>11}{bound:>9}  {ok}")
    return "\n".join(lines)


def render(loaded, last=3):
    """A plain-text table per benchmark: one row per measured key, one column per recent run."""
    lines = []
    for name, runs in loaded.items():
        runs = runs[-last:]
        keys = []
        for run in runs:
            keys.extend(key for key in run if key not in keys)
        width = max((len(key) for key in keys), default=10)
        lines.append(f"== {name} (last {len(runs)} of the recorded runs)")
        for key in keys:
            cells = "  ".join(f"{_cell(run.get(key)):>24}" for run in runs)
            lines.append(f"{key:<{width}}  {cells}")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print the flattened runs as JSON")
    parser.add_argument("--last", type=int, default=3, help="runs per benchmark (default 3)")
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"results directory (default {RESULTS})")
    args = parser.parse_args(argv)
    loaded = load(args.results)
    if args.json:
        print(json.dumps(loaded, indent=2))
        return 0
    print(f"== targets (last run: {args.results}; reference: {REFERENCE})")
    print(render_targets(latest(args.results), latest(REFERENCE)))
    print()
    if not loaded:
        print(f"no results in {args.results}: run the e2e tier (pytest tests/e2e) first", file=sys.stderr)
        return 1
    print(render(loaded, args.last))
    return 0


if __name__ == "__main__":
    sys.exit(main())
