"""Boot the cached e2e guest and run one step script in it, outside pytest.

Why: to try a change to the formula or to a step by hand, or to find where a boot spends
its time, without the whole scenario. The formula and the e2e pillar are staged onto the
share (``salt-call`` in the step is ``$SALT_CALL``), the local apt repository is attached.

Usage (as root)::

    python -m tests.e2e.run_step STEP.sh [--workdir DIR] [--timeout SECONDS] [--crash]

``STEP.sh`` runs as root under bash in the guest with ``$E2E_OUT`` on the share; the
guest keeps its disks in ``--workdir`` (default: a new directory under /tmp), so several
invocations with the same ``--workdir`` are successive boots of the same machine.
Prints the step's outcome, phase timings and where its output is.
"""

import argparse
import sys
import tempfile
from pathlib import Path

from tests.e2e import formula as fx
from tests.e2e import image as image_mod
from tests.e2e import repo as repo_mod
from tests.e2e.guest import Guest


def _log(message):
    print(message, file=sys.stderr, flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.run_step", description=__doc__.split("\n")[0])
    parser.add_argument("step", type=Path, help="bash script to run in the guest")
    parser.add_argument("--workdir", type=Path, help="guest directory (reused: same disks, next boot)")
    parser.add_argument("--timeout", type=int, default=1500, help="seconds for the step (default 1500)")
    parser.add_argument("--crash", action="store_true", help="the step crashes the kernel on purpose")
    args = parser.parse_args(argv)

    image = image_mod.ensure_image(_log)
    repo = repo_mod.ensure_repo(image, _log)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kdump-e2e-step."))
    script = f"SALT_CALL='{fx.SALT_CALL}'\n" + args.step.read_text(encoding="utf-8")
    repo_dir = None if (workdir / "share" / "repo").exists() else repo
    with Guest(workdir, image, repo_dir=repo_dir, log=_log, keep_disks=True) as guest:
        fx.stage(guest.share)
        result = guest.run_step(script, timeout=args.timeout, name=args.step.stem, expect_crash=args.crash)
    print(result.describe())
    print(f"output: {result.out_dir}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
