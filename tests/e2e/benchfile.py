"""Where the e2e tier records what it measured: ``artifacts/bench/<name>.json`` (untracked).

Why: tests never assert on time, they record it; a test run must not modify tracked files, so
the results go under the gitignored ``artifacts/`` and ``bench/report.py`` sets them beside
the committed reference (``bench/reference/``) and the targets.
"""

import json

from tests.e2e.guest import REPO_ROOT

RESULTS = REPO_ROOT / "artifacts" / "bench"
KEEP_RUNS = 10


def record(name, run):
    """Append ``run`` to ``artifacts/bench/<name>.json`` (``{"latest": run, "runs": [last ten]}``)."""
    path = RESULTS / f"{name}.json"
    history = []
    if path.exists():
        history = json.loads(path.read_text(encoding="utf-8")).get("runs", [])
    history = (history + [run])[-KEEP_RUNS:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"latest": run, "runs": history}, indent=2) + "\n", encoding="utf-8")
    return path
