"""Print the recorded benchmark results (``bench/results/*.json``) as a table.

Why: the e2e tier records its wall times per run (tests never assert on time); this turns the
last runs into something a person can compare: ``python bench/report.py [--json]``.
Each results file holds ``{"latest": {...}, "runs": [...]}`` (the last ten runs).
"""

import argparse
import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


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


def load(results_dir=RESULTS):
    """``{benchmark name: [flattened run, ...]}`` for every results file, oldest run first."""
    loaded = {}
    for path in sorted(Path(results_dir).glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        runs = data.get("runs") or ([data["latest"]] if "latest" in data else [data])
        loaded[path.stem] = [_flatten(run) for run in runs]
    return loaded


def _cell(value):
    if isinstance(value, float):
        return f"{value:g}"
    return "-" if value is None else str(value)


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
    args = parser.parse_args(argv)
    loaded = load()
    if not loaded:
        print(f"no results in {RESULTS}", file=sys.stderr)
        return 1
    print(json.dumps(loaded, indent=2) if args.json else render(loaded, args.last))
    return 0


if __name__ == "__main__":
    sys.exit(main())
