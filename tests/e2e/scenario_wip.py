"""The formula on a real kernel: apply, reboot into the reservation, crash, find and analyse the dump.

See tests/e2e/scenario.md for the steps and why each boot is a separate QEMU process.
"""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e import debug_symbols, dumpdisk
from tests.e2e import formula as fx
from tests.e2e.guest import REPO_ROOT, Guest
from tests.e2e.hostcmd import E2EError

pytestmark = pytest.mark.e2e

BENCH_FILE = REPO_ROOT / "bench" / "results" / "e2e-scenario.json"
GUEST_RAM = 1024 * 1024 * 1024


def _states(step, data, name):
    """The state returns of a ``state.apply`` call, or an error that names the step."""
    if not isinstance(data, dict) or not isinstance(data.get("local"), dict):
        raise E2EError(f"step {step}", f"{name}: no state data; salt-call said:\n{data}")
    return data["local"]


def _failed(states):
    return {key: (ret.get("comment"), ret.get("changes")) for key, ret in states.items() if ret.get("result") is not True}


def _changed(states):
    return {key: ret.get("changes") for key, ret in states.items() if ret.get("changes")}


def _log_of(result, name):
    try:
        return result.read(f"{name}.log")[-3000:]
    except FileNotFoundError:
        return "(no log)"


def test_formula_applies_reboots_crashes_and_finds_the_dump(e2e_image, e2e_repo, tmp_path):
    image = e2e_image["image"]
    record = {"recorded_at": time.strftime("%FT%T%z"), "image_key": image.key, "guest_ram_bytes": GUEST_RAM}
    with Guest(tmp_path / "vm", image, repo_dir=e2e_repo) as guest:
        fx.stage(guest.share)

        # Boot 1: test setup (the VG on the second disk, apt lists from the share), then the
        # formula exactly as a user applies it, twice.
        boot1 = guest.run_step(
            "set -u\n" + fx.VG_SETUP_STEP + "apt-get update -qq\n"
            + fx.salt_call_json("state.apply kdump", "apply1")
            + fx.salt_call_json("state.apply kdump", "apply2")
            + fx.salt_call_json("crashkernel.get", "ck_get"),
            timeout=1500, name="boot1-apply",
        ).require()
        rc1, apply1_s, data1 = fx.read_call(boot1, "apply1")
        states1 = _states("boot1-apply", data1, "first state.apply kdump")
        assert rc1 == 0 and not _failed(states1), (
            f"boot1-apply: first state.apply kdump failed states: {_failed(states1)}\n{_log_of(boot1, 'apply1')}"
        )
        assert _changed(states1), "boot1-apply: the first apply on a fresh guest changed nothing"
        rc2, apply2_s, data2 = fx.read_call(boot1, "apply2")
        states2 = _states("boot1-apply", data2, "second state.apply kdump")
        assert rc2 == 0 and not _failed(states2), f"boot1-apply: second apply failed: {_failed(states2)}"
        assert not _changed(states2), f"boot1-apply: second apply is not idempotent: {_changed(states2)}"
        _, _, ck = fx.read_call(boot1, "ck_get")
        ck = ck["local"]
        assert ck["reboot_pending"] is True, f"boot1-apply: reboot pending not reported: {ck}"
        record.update(boot1_seconds=boot1.seconds, apply1_seconds=apply1_s, apply2_seconds=apply2_s,
                      crashkernel_configured=ck["configured"])

        # Boot 2: the reservation is live and kdump is ready; then the guarded crash.
        boot2 = guest.run_step(
            "set -u\ncat /proc/cmdline > \"$E2E_OUT/cmdline\"\n"
            "cat /sys/kernel/kexec_crash_size > \"$E2E_OUT/kexec_crash_size\"\n"
            + fx.salt_call_json("kdump.status", "status")
            + f"{fx.SALT_CALL} kdump.crash confirm={fx.MINION_ID} > \"$E2E_OUT/crash.log\" 2>&1\n"
            "echo \"kdump.crash returned $?\" >> \"$E2E_OUT/crash.log\"\n",
            timeout=600, name="boot2-crash", expect_crash=True, crash_timeout=600,
        )
        cmdline = boot2.read("cmdline").split()
        crashkernel_args = [arg for arg in cmdline if arg.startswith("crashkernel=")]
        assert crashkernel_args == [f"crashkernel={ck['configured']}"], (
            f"boot2-crash: /proc/cmdline has {crashkernel_args}, the formula configured {ck['configured']}"
        )
        crash_size = int(boot2.read("kexec_crash_size"))
        assert crash_size > 0, "boot2-crash: /sys/kernel/kexec_crash_size is 0: no reservation"
        _, _, status = fx.read_call(boot2, "status")
        status = status["local"]
        assert status["ready"] is True and status["problems"] == [], f"boot2-crash: kdump.status: {status}"
        boot2.require()
        assert "sysrq triggered crash" in (boot2.panic or ""), f"boot2-crash: panic was {boot2.panic!r}"
        record.update(boot2_seconds=boot2.seconds, reserved_bytes=crash_size)

        # Boot 3: the formula's own vmcore functions find and read the dump.
        boot3 = guest.run_step(
            "set -u\n" + dumpdisk.LV_GEOMETRY_STEP + "lv_geometry rootvg/crashlv\n"
            + fx.salt_call_json("vmcore.list", "list")
            + "dump=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"local\"][0][\"path\"])' "
              "\"$E2E_OUT/list.json\")\n"
            + fx.salt_call_json("vmcore.analyze path=\"$dump\"", "analyze"),
            timeout=600, name="boot3-verify",
        ).require()
        _, _, dumps = fx.read_call(boot3, "list")
        dumps = dumps["local"]
        assert len(dumps) == 1 and dumps[0]["complete"] is True, f"boot3-verify: vmcore.list: {dumps}"
        _, _, analysis = fx.read_call(boot3, "analyze")
        analysis = analysis["local"]
        assert "sysrq triggered crash" in analysis["panic"], f"boot3-verify: vmcore.analyze: {analysis}"
        assert analysis["call_trace"], f"boot3-verify: no call trace: {analysis}"
        record.update(boot3_seconds=boot3.seconds, vmcore_bytes=dumps[0]["size"],
                      vmcore_to_ram=round(dumps[0]["size"] / GUEST_RAM, 4))

        # Full analysis with the guest kernel's debug vmlinux: read the LV on the host and run
        # the formula's vmcore.analyze there (crash under TCG would take minutes).
        vmlinux = debug_symbols.ensure_debug_vmlinux(image)
        geometry = json.loads(boot3.read("lv.json"))
        started = time.monotonic()
        with dumpdisk.mounted_lv(guest.dump_disk, geometry) as mnt:
            host_dump = Path(mnt) / os.path.relpath(dumps[0]["path"], "/var/crash")
            proc = subprocess.run(
                [str(REPO_ROOT / "scripts" / "salt-call-local"), "--out=json", "vmcore.analyze",
                 f"path={host_dump}", f"vmlinux={vmlinux}"],
                capture_output=True, text=True, timeout=900, check=False,
            )
        assert proc.returncode == 0, f"host vmcore.analyze failed: {proc.stderr[-3000:]}"
        full = json.loads(proc.stdout)["local"]
        assert full["crash"], f"host vmcore.analyze did not run crash: {full}"
        assert "sysrq triggered crash" in full["crash"]["sys"], full["crash"]["sys"]
        assert "sysrq_handle_crash" in full["crash"]["bt"], full["crash"]["bt"]
        record["host_crash_analysis_seconds"] = round(time.monotonic() - started, 1)

    BENCH_FILE.parent.mkdir(parents=True, exist_ok=True)
    BENCH_FILE.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def test_too_small_dump_volume_fails_before_anything_changes(e2e_image, e2e_repo, tmp_path):
    image = e2e_image["image"]
    pillar = json.loads(json.dumps(fx.E2E_PILLAR))
    pillar["kdump"]["volume"]["size"] = "8M"
    with Guest(tmp_path / "vm", image, repo_dir=e2e_repo) as guest:
        fx.stage(guest.share, pillar=pillar)
        result = guest.run_step(
            "set -u\n" + fx.VG_SETUP_STEP + "apt-get update -qq\n"
            + fx.salt_call_json("state.apply kdump", "apply")
            + "cat /proc/sys/kernel/panic > \"$E2E_OUT/panic\"\n",
            timeout=900, name="small-volume",
        ).require()
    rc, _, data = fx.read_call(result, "apply")
    states = _states("small-volume", data, "state.apply kdump")
    assert rc != 0, "small-volume: state.apply succeeded with an 8M dump volume"
    failed = _failed(states)
    assert any(
        "space" in str(comment) or "kdump:volume:size" in str(comment) for comment, _ in failed.values()
    ), f"small-volume: no failure explains the lack of space: {failed}"
    # Nothing that touches the boot, the kernel's panic behaviour or the service may change.
    guarded = {key: changes for key, changes in _changed(states).items()
               if any(word in str(key) for word in ("crashkernel", "sysctl", "service"))}
    assert not guarded, f"small-volume: changed before the space check failed: {guarded}"
    assert result.read("panic").strip() != "10", "small-volume: the panic sysctl was applied anyway"
