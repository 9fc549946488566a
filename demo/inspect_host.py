"""`make inspect`: what kdump-formula sees on this machine, read-only.

Runs the execution modules through a real ``salt-call --local`` over this checkout
(scripts/salt-call-local) and prints their answers. Nothing here writes to the boot loader,
the kdump configuration or /proc/sysrq-trigger: only read-only functions are called.
"""

import json
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
SALT_CALL = REPO / "scripts" / "salt-call-local"

# (function, args, why it is shown) -- every one of them only reads.
READ_ONLY_CALLS = [
    ("crashkernel.parse", ["1G-4G:192M,4G-64G:256M,64G-:512M"], "the kernel's range syntax, parsed"),
    ("crashkernel.recommend", [], "the reservation this machine should get, and why"),
    ("crashkernel.get", [], "running vs. configured crashkernel= and the live reservation"),
    ("kdump.estimate", [], "how big a vmcore of this machine would be"),
    ("kdump.status", [], "is this machine ready to capture a crash dump?"),
    ("vmcore.list", [], "crash dumps already on this machine"),
]


def call(function, args):
    proc = subprocess.run(
        [str(SALT_CALL), "--out=json", function, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return proc.returncode, json.loads(proc.stdout)["local"]
    except (ValueError, KeyError):
        return proc.returncode, (proc.stdout + proc.stderr).strip()


def main():
    print(f"kdump-formula inspect: this machine, read-only: {REPO}\n")
    failures = 0
    for function, args, why in READ_ONLY_CALLS:
        code, result = call(function, args)
        print(f"$ salt-call --local {function} {' '.join(args)}".rstrip())
        print(f"  # {why}")
        text = json.dumps(result, indent=2, sort_keys=True) if not isinstance(result, str) else result
        print("  " + text.replace("\n", "\n  ") + "\n")
        failures += code != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
