"""Smoke test of the e2e harness: the cached guest boots, runs a step and Salt answers."""

import time

import pytest

from tests.e2e import benchfile
from tests.e2e.guest import Guest

pytestmark = pytest.mark.e2e


SMOKE_STEP = r"""
set -eu
uname -r > "$E2E_OUT/uname"
t0=$(date +%s.%N)
/opt/salt/bin/salt-call --local test.ping --out=json > "$E2E_OUT/ping.json"
t1=$(date +%s.%N)
python3 - "$t0" "$t1" > "$E2E_OUT/result.json" <<'PY'
import json, os, sys
out = os.environ["E2E_OUT"]
with open(os.path.join(out, "ping.json")) as f:
    ping = json.load(f)
with open(os.path.join(out, "uname")) as f:
    uname = f.read().strip()
json.dump({"uname": uname, "test_ping": ping,
           "salt_call_seconds": round(float(sys.argv[2]) - float(sys.argv[1]), 2),
           "share_mounted": os.path.ismount("/mnt/host")}, sys.stdout)
PY
"""


def test_guest_boots_and_salt_answers(e2e_image, tmp_path):
    image = e2e_image["image"]
    with Guest(tmp_path / "vm", image) as guest:
        result = guest.run_step(SMOKE_STEP, timeout=240, name="smoke")
    result.require()
    assert result.data is not None, result.describe()
    assert result.data["uname"] == image.kernel_release
    assert result.status["kernel"] == image.kernel_release
    assert result.data["test_ping"] == {"local": True}
    assert result.data["share_mounted"] is True
    assert "console=ttyS0,115200" in result.status["cmdline"]
    assert f"root=UUID={image.root_uuid}" in result.status["cmdline"]

    record = {
        "recorded_at": time.strftime("%FT%T%z"),
        "image_key": image.key,
        "image_build_cold_seconds": image.build_seconds,
        "image_build_phase_seconds": image.phase_seconds,
        "image_was_cached": e2e_image["was_cached"],
        "image_ensure_seconds_this_run": e2e_image["ensure_seconds"],
        "boot_to_step_seconds": result.seconds.get("boot"),
        "step_seconds": result.seconds.get("step"),
        "shutdown_seconds": result.seconds.get("shutdown"),
        "qemu_total_seconds": result.seconds.get("total"),
        "salt_call_test_ping_seconds": result.data["salt_call_seconds"],
        "guest_uptime_at_step_end": result.status["uptime_at_end"],
        "guest_memory_mb": guest.memory_mb,
        "guest_smp": guest.smp,
    }
    benchfile.record("e2e-smoke", record)
