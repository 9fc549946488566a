"""The formula on a real kernel: apply, reboot into the reservation, crash, find and analyse the dump.

One guest lives through the whole module; each test is one boot (a new QEMU process, see
tests/e2e/scenario.md) and needs the boots before it, so a failure names the first broken
step and the later ones are skipped with that reason.
"""

import copy
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e import debug_symbols, dumpdisk
from tests.e2e import benchfile
from tests.e2e import formula as fx
from tests.e2e.guest import REPO_ROOT, Guest
from tests.e2e.hostcmd import E2EError

pytestmark = pytest.mark.e2e

GUEST_MEMORY_MB = 1024
DUMP_DIR = fx.E2E_PILLAR["kdump"]["volume"]["mountpoint"]
# Boot 2 changes the capture kernel's command line without a reboot: the crash that follows
# proves the formula reloaded kdump after the config change (the seed's "initrd not rebuilt").
RELOAD_MARKER = "kdump_formula_e2e=reloaded"


class Scenario:
    """The guest, what each passed step established, and the numbers for bench/."""

    def __init__(self, guest, image, image_info):
        self.guest = guest
        self.image = image
        self.passed = set()
        self.facts = {}
        self.record = {
            "recorded_at": time.strftime("%FT%T%z"),
            "image_key": image.key,
            "kernel_release": image.kernel_release,
            "image_was_cached": image_info["was_cached"],
            "image_ensure_seconds": image_info["ensure_seconds"],
            "guest_ram_bytes": GUEST_MEMORY_MB << 20,
            "guest_smp": guest.smp,
            "phases": {},
        }

    def needs(self, *steps):
        missing = [step for step in steps if step not in self.passed]
        if missing:
            pytest.skip(f"needs step {', '.join(missing)}, which did not pass")

    def phase(self, name, result, **extra):
        self.record["phases"][name] = {**result.seconds, **extra}


@pytest.fixture(scope="module")
def scenario(e2e_image, e2e_repo, tmp_path_factory):
    image = e2e_image["image"]
    with Guest(tmp_path_factory.mktemp("scenario") / "vm", image, repo_dir=e2e_repo,
               memory_mb=GUEST_MEMORY_MB) as guest:
        fx.stage(guest.share)
        current = Scenario(guest, image, e2e_image)
        yield current
    current.record["steps_passed"] = sorted(current.passed)
    _write_bench(current.record)


def _write_bench(record):
    benchfile.record("e2e-scenario", record)


def _local(step, result, out_name, what):
    """The ``local`` return of a ``salt_call_json`` line, or an error naming the step."""
    rc, seconds, data = fx.read_call(result, out_name)
    if not isinstance(data, dict) or "local" not in data:
        raise E2EError(f"step {step}", f"{what}: no return (exit {rc}); salt-call said:\n{_log_of(result, out_name)}")
    return rc, seconds, data["local"]


def _log_of(result, name):
    try:
        return result.read(f"{name}.log")[-3000:]
    except FileNotFoundError:
        return "(no log)"


def _failed(states):
    return {key: ret.get("comment") for key, ret in states.items() if ret.get("result") is not True}


def _changed(states):
    return {key: ret.get("changes") for key, ret in states.items() if ret.get("changes")}


def _apply(step, result, out_name, what):
    rc, seconds, states = _local(step, result, out_name, what)
    if not isinstance(states, dict):
        raise E2EError(f"step {step}", f"{what} did not return states: {states}")
    return rc, seconds, states


def test_boot1_formula_applies_then_changes_nothing(scenario):
    """Boot 1: the formula as a user applies it (twice), packages from the local repository."""
    step = "boot1-apply"
    result = scenario.guest.run_step(
        "set -u\n" + fx.VG_SETUP_STEP + "apt-get update -qq\n"
        + fx.salt_call_json("state.apply kdump", "apply1")
        + fx.salt_call_json("state.apply kdump", "apply2")
        + fx.salt_call_json("crashkernel.get", "ck_get")
        + "dpkg-query -W -f '${Package} ${Status}\\n' kdump-tools kexec-tools makedumpfile > \"$E2E_OUT/pkgs\"\n",
        timeout=1500, name=step,
    ).require()
    rc1, apply1_s, states1 = _apply(step, result, "apply1", "the first state.apply kdump")
    assert rc1 == 0 and not _failed(states1), (
        f"{step}: the first state.apply kdump failed: {_failed(states1)}\n{_log_of(result, 'apply1')}"
    )
    assert _changed(states1), f"{step}: the first apply on a fresh guest changed nothing"
    installed = result.read("pkgs")
    assert installed.count("install ok installed") == 3, f"{step}: packages after the apply:\n{installed}"

    rc2, apply2_s, states2 = _apply(step, result, "apply2", "the second state.apply kdump")
    assert rc2 == 0 and not _failed(states2), f"{step}: the second apply failed: {_failed(states2)}"
    assert not _changed(states2), f"{step}: the second apply is not idempotent: {_changed(states2)}"

    _, _, ck = _local(step, result, "ck_get", "crashkernel.get")
    assert ck["configured"], f"{step}: no crashkernel= configured for the next boot: {ck}"
    assert ck["reboot_pending"] is True, f"{step}: the pending reboot is not reported: {ck}"
    scenario.facts["crashkernel"] = ck["configured"]
    scenario.phase(step, result, apply1=apply1_s, apply2=apply2_s, states=len(states1),
                   changed_first=len(_changed(states1)))
    scenario.record["crashkernel_configured"] = ck["configured"]
    scenario.passed.add(step)


def test_boot2_reservation_is_live_kdump_ready_and_the_crash_is_captured(scenario):
    """Boot 2: the next boot reserves the memory, kdump is loaded; a config change applied
    without a reboot is in force; the guarded crash is captured."""
    scenario.needs("boot1-apply")
    step = "boot2-crash"
    changed = copy.deepcopy(fx.E2E_PILLAR)
    settings = changed["kdump"]["settings"]
    settings["capture_cmdline_append"] = f"{settings['capture_cmdline_append']} {RELOAD_MARKER}"
    fx.stage(scenario.guest.share, pillar=changed)
    result = scenario.guest.run_step(
        "set -u\ncat /proc/cmdline > \"$E2E_OUT/cmdline\"\n"
        "cat /sys/kernel/kexec_crash_size > \"$E2E_OUT/kexec_crash_size\"\n"
        + fx.salt_call_json("kdump.status", "status_at_boot")
        + fx.salt_call_json("state.apply kdump", "reconfigure")
        + fx.salt_call_json("kdump.status", "kdump_status")
        + "sync\n"
        + f"{fx.SALT_CALL} kdump.crash confirm={fx.MINION_ID} > \"$E2E_OUT/crash.log\" 2>&1\n"
        "echo \"kdump.crash returned $?\" >> \"$E2E_OUT/crash.log\"\n",
        # The first boot with the reservation: kdump-tools builds its capture initrd before
        # the step starts (150 s under TCG), hence the longer boot allowance.
        timeout=900, name=step, expect_crash=True, boot_timeout=900, crash_timeout=900,
    )
    cmdline = result.read("cmdline").split()
    crashkernel_args = [arg for arg in cmdline if arg.startswith("crashkernel=")]
    wanted = f"crashkernel={scenario.facts['crashkernel']}"
    assert crashkernel_args == [wanted], (
        f"{step}: /proc/cmdline has {crashkernel_args}, the formula configured {wanted} "
        "(another file overrides it, or the bootloader config was not regenerated)"
    )
    reserved = int(result.read("kexec_crash_size"))
    assert reserved > 0, f"{step}: /sys/kernel/kexec_crash_size is 0: the kernel reserved nothing"
    _, _, at_boot = _local(step, result, "status_at_boot", "kdump.status")
    assert at_boot["ready"] is True, f"{step}: kdump.status right after the reboot is not ready: {at_boot}"
    rc, reconfigure_s, states = _apply(step, result, "reconfigure", "state.apply kdump with a new capture cmdline")
    assert rc == 0 and not _failed(states), f"{step}: the reconfiguring apply failed: {_failed(states)}"
    config_changes = [ret["changes"] for key, ret in states.items() if key.startswith("kdump_|-kdump-config_|-")]
    assert config_changes and config_changes[0].get("rebuilt") is True, (
        f"{step}: a config change with the reservation live did not rebuild/reload kdump: {_changed(states)}"
    )
    _, _, status = _local(step, result, "kdump_status", "kdump.status")
    assert status["ready"] is True and status["problems"] == [], f"{step}: kdump.status is not ready: {status}"
    assert status["loaded"] is True, f"{step}: the capture kernel is not loaded: {status}"
    try:
        crash_log = result.read("crash.log")
    except FileNotFoundError:
        crash_log = "(none)"
    if not result.ok:
        raise E2EError(f"step {step}", f"kdump.crash output:\n{crash_log}\n{result.describe()}")
    assert "sysrq triggered crash" in (result.panic or ""), f"{step}: the panic was {result.panic!r}"
    capture_cmdline = result.serial[result.serial.index(result.panic):].partition("Command line:")[2].split("\n")[0]
    assert capture_cmdline, f"{step}: no capture kernel booted after the panic"
    assert RELOAD_MARKER in capture_cmdline, (
        f"{step}: the capture kernel ran with the command line from before the config change "
        f"(kdump was not reloaded): {capture_cmdline.strip()}"
    )
    scenario.record["reserved_bytes"] = reserved
    scenario.phase(step, result, reconfigure_apply=reconfigure_s)
    scenario.passed.add(step)


def test_boot3_formula_finds_and_reads_the_dump(scenario):
    """Boot 3: ``vmcore.list`` and ``vmcore.analyze`` of the formula find the dump on the LV."""
    scenario.needs("boot2-crash")
    step = "boot3-verify"
    result = scenario.guest.run_step(
        "set -u\n" + dumpdisk.LV_GEOMETRY_STEP + "lv_geometry rootvg/crashlv\n"
        + fx.salt_call_json("vmcore.list", "list")
        + "dump=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"local\"][0][\"path\"])' "
          "\"$E2E_OUT/list.json\")\n"
        + fx.salt_call_json("vmcore.analyze path=\"$dump\"", "analyze"),
        timeout=900, name=step,
    ).require()
    _, _, dumps = _local(step, result, "list", "vmcore.list")
    assert len(dumps) == 1, f"{step}: vmcore.list found {len(dumps)} dumps: {dumps}"
    dump = dumps[0]
    assert dump["complete"] is True, f"{step}: the dump is incomplete: {dump}"
    assert dump["path"].startswith(DUMP_DIR + "/"), f"{step}: the dump is not on the dump volume: {dump}"
    _, _, analysis = _local(step, result, "analyze", "vmcore.analyze")
    assert "sysrq triggered crash" in (analysis.get("panic") or ""), f"{step}: vmcore.analyze: {analysis}"
    assert analysis.get("call_trace"), f"{step}: vmcore.analyze found no call trace: {analysis}"
    scenario.facts.update(dump=dump, geometry=json.loads(result.read("lv.json")))
    scenario.record.update(vmcore_bytes=dump["size"],
                           vmcore_to_ram=round(dump["size"] / scenario.record["guest_ram_bytes"], 4))
    scenario.phase(step, result)
    scenario.passed.add(step)


def test_host_crash_analysis_with_debug_symbols(scenario):
    """The full analysis: the host reads the LV and runs the formula's ``vmcore.analyze`` with
    the guest kernel's debug vmlinux, so ``crash`` runs natively instead of minutes under TCG."""
    scenario.needs("boot3-verify")
    vmlinux = debug_symbols.ensure_debug_vmlinux(scenario.image)
    dump = scenario.facts["dump"]
    started = time.monotonic()
    with dumpdisk.mounted_lv(scenario.guest.dump_disk, scenario.facts["geometry"]) as mnt:
        host_dump = Path(mnt) / os.path.relpath(dump["path"], DUMP_DIR)
        proc = subprocess.run(
            [str(REPO_ROOT / "scripts" / "salt-call-local"), "--out=json", "vmcore.analyze",
             f"path={host_dump}", f"vmlinux={vmlinux}"],
            capture_output=True, text=True, timeout=900, check=False,
        )
    assert proc.returncode == 0, f"host vmcore.analyze failed: {proc.stderr[-3000:]}"
    full = json.loads(proc.stdout)["local"]
    assert full.get("crash"), f"host vmcore.analyze did not run crash: {full}"
    assert "sysrq triggered crash" in full["crash"]["sys"], f"crash 'sys' output:\n{full['crash']['sys']}"
    assert "sysrq_handle_crash" in full["crash"]["bt"], f"crash 'bt' output:\n{full['crash']['bt']}"
    scenario.record["phases"]["host-crash-analysis"] = {"total": round(time.monotonic() - started, 1)}
    scenario.passed.add("host-analysis")


def test_boot4_too_small_dump_volume_fails_before_anything_changes(scenario):
    """The negative: a fixed dump volume far below the estimate stops the run before any
    change, even when the same pillar also asks for a new reservation and panic sysctl."""
    scenario.needs("boot1-apply")
    step = "boot4-small-volume"
    pillar = copy.deepcopy(fx.E2E_PILLAR)
    pillar["kdump"]["volume"].update(lv="smalllv", size="8M", mountpoint="/var/crash-small")
    pillar["kdump"]["settings"]["target"]["path"] = "/var/crash-small"
    pillar["kdump"]["crashkernel"]["value"] = "256M"
    pillar["kdump"]["sysctl"]["kernel.panic"] = 20
    fx.stage(scenario.guest.share, pillar=pillar)
    try:
        result = scenario.guest.run_step(
            "set -u\n"
            + fx.salt_call_json("state.apply kdump", "apply")
            + fx.salt_call_json("crashkernel.get", "ck_get")
            + "cat /proc/sys/kernel/panic > \"$E2E_OUT/panic\"\n"
            "lvs --noheadings -o lv_name rootvg > \"$E2E_OUT/lvs\"\n",
            timeout=900, name=step,
        ).require()
    finally:
        fx.stage(scenario.guest.share)
    rc, _, states = _apply(step, result, "apply", "state.apply kdump")
    assert rc != 0, f"{step}: state.apply succeeded with an 8M dump volume"
    failed = _failed(states)
    assert any("kdump:volume:size" in str(comment) and "not enough space" in str(comment)
               for comment in failed.values()), f"{step}: no failure explains the lack of space: {failed}"
    assert not _changed(states), f"{step}: changed although the pillar was refused: {_changed(states)}"
    assert "smalllv" not in result.read("lvs"), f"{step}: the small LV was created: {result.read('lvs')}"
    assert result.read("panic").strip() == "10", f"{step}: kernel.panic is {result.read('panic').strip()}"
    _, _, ck = _local(step, result, "ck_get", "crashkernel.get")
    if "boot1-apply" in scenario.passed:
        assert ck["configured"] == scenario.facts["crashkernel"], f"{step}: crashkernel changed: {ck}"
    scenario.phase(step, result)
    scenario.passed.add(step)
