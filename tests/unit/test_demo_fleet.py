"""`make demo` (demo/fleet_demo.py) without booting anything: its command line, the fleet it
lays out, KVM detection against fake devices and a fake QEMU, the plan, the salt commands, the
highstate summary, and cleanup when a run fails or is interrupted (fake processes)."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from demo import fleet_demo as fd
from tests.e2e import fleet as fl
from tests.e2e.guest import TCG, qemu_argv

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- command line

def test_defaults_are_three_guests_auto_accel_no_keep_no_plan():
    assert fd.parse_args([]) == fd.Options(guests=3, keep=False, plan=False, accel="auto")
    assert fd.parse_args(["--guests", "5", "--keep", "--plan", "--accel", "tcg"]) == fd.Options(5, True, True, "tcg")
    assert fd.parse_args(["--stay"]).stay is True


@pytest.mark.parametrize("argv, message", [
    (["--guests", "0"], "argument --guests: 0 is out of range 1-8"),
    (["--guests", "9"], "argument --guests: 9 is out of range 1-8"),
    (["--guests", "three"], "argument --guests: 'three' is not a whole number"),
    (["--accel", "hvf"], "argument --accel: invalid choice: 'hvf'"),
])
def test_a_bad_option_exits_2_naming_it(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        fd.parse_args(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


# --------------------------------------------------------------------------- the fleet

def test_three_guests_are_the_fleet_tiers_two_trixie_one_bookworm():
    assert fd.fleet_layout(3) == [("kf-trixie-a", "trixie"), ("kf-trixie-b", "trixie"), ("kf-bookworm", "bookworm")]
    assert fd.special_minion(fd.fleet_layout(3)) == "kf-bookworm"


@pytest.mark.parametrize("count, trixie, bookworm", [(1, 1, 0), (2, 1, 1), (4, 3, 1), (5, 3, 2), (8, 5, 3)])
def test_about_a_third_are_bookworm_and_ids_are_distinct(count, trixie, bookworm):
    layout = fd.fleet_layout(count)
    suites = [suite for _mid, suite in layout]
    assert (suites.count("trixie"), suites.count("bookworm"), len(layout)) == (trixie, bookworm, count)
    assert len({mid for mid, _suite in layout}) == count
    special = fd.special_minion(layout)
    assert special == (None if bookworm == 0 else next(mid for mid, s in layout if s == "bookworm"))


def test_the_special_minion_gets_its_own_pillar_by_targeting_and_none_without_it():
    top, sls = fl.fleet_pillars("kf-bookworm")
    assert top == {"base": {"*": ["kdump_fleet"], "kf-bookworm": ["kdump_fleet_special"]}}
    assert sls["kdump_fleet"]["kdump"]["crashkernel"]["value"] == fl.FLEET_CRASHKERNEL
    assert sls["kdump_fleet_special"]["kdump"]["volume"]["size"] == fl.SPECIAL_SIZE
    top, sls = fl.fleet_pillars(None)
    assert top == {"base": {"*": ["kdump_fleet"]}} and list(sls) == ["kdump_fleet"]


# --------------------------------------------------------------------------- KVM

def test_qemu_argv_keeps_tcg_by_default_and_takes_an_accel():
    args = ("g", 1024, 1, "/s", "/r", "/d", "/share")
    argv = qemu_argv(*args)
    assert argv[argv.index("-accel") + 1] == TCG == "tcg,thread=multi"
    argv = qemu_argv(*args, accel="kvm")
    assert argv[argv.index("-accel") + 1] == "kvm" and argv.count("-accel") == 1


def test_a_fleet_guest_boots_with_its_accel(tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(fl, "run", lambda argv, phase: made.append((argv[0], phase)))  # qemu-img, truncate
    image = type("Image", (), {"path": str(tmp_path / "base.raw")})()
    ports = {"publish_port": 1, "ret_port": 2}
    guest = fl.FleetGuest("kf-x", image, tmp_path / "vm", ports, accel="kvm")
    argv = guest.argv(tmp_path / "serial.log")
    assert argv[argv.index("-accel") + 1] == "kvm"
    default = fl.FleetGuest("kf-y", image, tmp_path / "vm2", ports).argv(tmp_path / "serial.log")
    assert default[default.index("-accel") + 1] == TCG
    assert made == [("qemu-img", "fleet-disk"), ("truncate", "fleet-disk")] * 2


def test_kvm_device_status_names_the_device_and_why(tmp_path):
    ok, reason = fd.kvm_device_status(str(tmp_path / "kvm"))
    assert not ok and reason.startswith(f"{tmp_path / 'kvm'}: ") and "No such file" in reason
    ok, reason = fd.kvm_device_status("/dev/null")
    assert not ok and reason.startswith("/dev/null: not a KVM device")


def _fake_qemu(tmp_path, body):
    script = tmp_path / "qemu-system-x86_64"
    script.write_text("#!/bin/sh\n" f'echo "$@" > {tmp_path}/argv\n' + body, encoding="utf-8")
    script.chmod(0o755)
    return str(script)


# A fake QEMU that boots the probe as a real one does: "OK" on the serial port (stdout), exit 1.
BOOTS = 'echo OK; exit 1\n'


def _accel_of_call(tmp_path):
    argv = (tmp_path / "argv").read_text().split()
    return argv[argv.index("-accel") + 1]


def test_the_probe_sector_is_a_bootable_sector_that_ends_qemu():
    assert len(fd.PROBE_IMAGE) == 512 and fd.PROBE_IMAGE.endswith(b"\x55\xaa")
    assert b"\xe6\xf4" in fd.PROBE_SECTOR  # out 0xf4: isa-debug-exit


def test_kvm_probe_reports_the_qemu_error_of_a_broken_kvm(tmp_path):
    qemu = _fake_qemu(tmp_path, 'echo "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69" >&2\n'
                                "exit 134\n")
    ok, reason = fd.kvm_probe(qemu)
    assert not ok
    assert reason == ("QEMU cannot run a machine under kvm here: "
                      "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69")
    argv = (tmp_path / "argv").read_text().split()
    # guest code really runs: the probe's boot sector ends QEMU through isa-debug-exit
    assert "-S" not in argv and "isa-debug-exit,iobase=0xf4,iosize=0x04" in argv
    assert _accel_of_call(tmp_path) == "kvm"


def test_kvm_probe_refuses_a_kvm_slower_than_tcg(tmp_path):
    """The firmware crawl: KVM runs the guest, but slower than software emulation."""
    qemu = _fake_qemu(tmp_path, 'case "$*" in *"-accel kvm "*) sleep 1.5;; esac\n' + BOOTS)
    ok, reason = fd.kvm_probe(qemu)
    assert not ok and reason.startswith("KVM runs guest code slower than TCG here: a boot sector took ")
    assert _accel_of_call(tmp_path) == TCG  # the second call: the same sector under TCG


def test_kvm_probe_passes_when_kvm_boots_the_sector_no_slower_than_tcg(tmp_path):
    qemu = _fake_qemu(tmp_path, 'case "$*" in *"-accel kvm "*) ;; *) sleep 1;; esac\n' + BOOTS)
    ok, reason = fd.kvm_probe(qemu)
    assert ok and reason.startswith("QEMU under kvm boots a boot sector in ") and "(TCG: 1." in reason
    assert fd.kvm_probe(str(tmp_path / "missing")) == (False, f"{tmp_path / 'missing'} is not installed")


def test_kvm_probe_fails_when_the_sector_never_reports(tmp_path):
    qemu = _fake_qemu(tmp_path, "exit 0\n")  # QEMU quit, the sector's OK never arrived
    assert fd.kvm_probe(qemu) == (False, "QEMU cannot run a machine under kvm here: exit 0, serial ''")


def test_detect_accel_uses_kvm_only_when_it_really_works():
    def never():
        raise AssertionError("probed although the device failed or TCG was asked for")

    assert fd.detect_accel("tcg", device=never, probe=never) == fd.Accel("tcg", TCG, "--accel tcg")
    assert fd.detect_accel("auto", device=lambda: (True, "ok"), probe=lambda: (True, "QEMU ok")) == \
        fd.Accel("kvm", "kvm", "QEMU ok")
    accel = fd.detect_accel("auto", device=lambda: (False, "/dev/kvm: Permission denied"), probe=never)
    assert accel == fd.Accel("tcg", TCG, "no working KVM: /dev/kvm: Permission denied")
    accel = fd.detect_accel("auto", device=lambda: (True, "ok"), probe=lambda: (False, "MSR"))
    assert accel.name == "tcg" and accel.reason == "no working KVM: MSR"
    with pytest.raises(fd.DemoError, match="^--accel kvm: KVM does not work on this host: MSR$"):
        fd.detect_accel("kvm", device=lambda: (True, "ok"), probe=lambda: (False, "MSR"))


# --------------------------------------------------------------------------- time, host, config

def test_expected_time_is_the_measured_tcg_range_for_three_and_grows_with_guests_and_builds():
    low, high = fd.expected_minutes(3, "tcg")
    assert (low, high) == (11, 21) and low <= 12 <= high  # measured: 12 min 5 s
    assert fd.expected_minutes(3, "tcg", missing_images=2) == (15, 31)
    assert fd.expected_minutes(6, "tcg")[0] > low
    kvm = fd.expected_minutes(3, "kvm")
    assert kvm[1] <= low and kvm[0] < kvm[1]


MEMINFO = "MemTotal:       24000000 kB\nMemAvailable:    2000000 kB\n"


def test_host_problems_are_all_reported_at_once(tmp_path):
    problems = fd.host_problems(1000, lambda tool: tool != "socat", MEMINFO, 3, bin_dir=tmp_path)
    assert problems == [
        "root: the demo needs root (image build: loop devices, mounts, chroot)",
        "socat: not installed (make apt installs it)",
        f"salt-master: not in the venv {tmp_path} (make venv)",
        f"salt: not in the venv {tmp_path} (make venv)",
        f"salt-run: not in the venv {tmp_path} (make venv)",
        f"salt-key: not in the venv {tmp_path} (make venv)",
        "memory: 3 guests need about 3840 MiB, 1953 MiB available (use --guests)",
    ]
    assert fd.host_problems(0, lambda tool: "/usr/bin/" + tool, MEMINFO, 1) == []


def test_the_master_listens_on_loopback_only_with_everything_under_its_root(tmp_path):
    config = fd.master_config(tmp_path, {"publish_port": 40001, "ret_port": 40002}, ["/a", "/b"], ["/p"], "root")
    assert config["interface"] == "127.0.0.1"
    assert (config["publish_port"], config["ret_port"]) == (40001, 40002)
    assert config["file_roots"] == {"base": ["/a", "/b"]} and config["pillar_roots"] == {"base": ["/p"]}
    assert config["root_dir"] == str(tmp_path) and config["log_file"].startswith(str(tmp_path))
    assert config["auto_accept"] is True


def test_the_file_roots_serve_the_formula_and_every_module_dir_with_the_outputter(tmp_path):
    roots = fl.stage_file_roots(tmp_path, REPO, {"base": {"*": ["kdump"]}})
    checkout = Path(roots[2])
    for name in ("_modules", "_states", "_utils", "_runners", "_output"):
        assert (checkout / name).resolve() == REPO / name
    assert (Path(roots[1]) / "kdump" / "init.sls").exists()


def test_salt_commands_are_argument_lists_with_the_briefs_runner_calls(tmp_path):
    commands = fd.salt_commands(tmp_path / "etc", fd.fleet_layout(3), "/r/crash.html", "/r/junit.xml")
    for argvs in commands.values():
        for argv in argvs:
            assert all(isinstance(arg, str) for arg in argv) and argv[1:3] == ["-c", str(tmp_path / "etc")]
    reboot = commands["reboot"][0]
    assert reboot[3:7] == ["kdump.reboot_pending", "*", "confirm=*", "batch=3"]
    crash = commands["crashtest"][0]
    assert crash[3:10] == ["kdump.crashtest", "*", "canary=1", "wave_size=2", "analyze=True",
                           "report=/r/crash.html", "junit=/r/junit.xml"]
    assert commands["highstate"][0][-2:] == ["*", "state.apply"]
    assert Path(reboot[0]).name == "salt-run" and Path(commands["boot"][0][0]).name == "salt"


def test_the_highstate_summary_counts_and_names_each_failure():
    ok_states = {"kdump_|-kdump-validated_|-kdump_|-validated": {"result": True, "changes": {}},
                 "pkg_|-kdump-package_|-kdump-package_|-installed": {"result": True, "changes": {"kdump-tools": {}}}}
    bad_states = dict(ok_states)
    bad_states["crashkernel_|-kdump-crashkernel_|-kdump-crashkernel_|-configured"] = {
        "result": False, "changes": {}, "comment": "no supported boot loader"}
    ok, lines = fd.summarize_states({"a": ok_states, "b": ok_states}, ["a", "b"])
    assert ok and lines == ["a: 2 states, 1 changed, 0 failed", "b: 2 states, 1 changed, 0 failed"]
    ok, lines = fd.summarize_states({"a": bad_states, "b": "Minion did not return. [No response]"}, ["a", "b"])
    assert not ok
    assert lines == ["a: 3 states, 1 changed, 1 failed",
                     "  failed kdump-crashkernel: no supported boot loader",
                     "b: no state return: Minion did not return. [No response]"]
    assert fd.answering({"a": True, "b": False}, ["a", "b", "c"]) == ["a"]
    assert fd.answering({}, ["a"]) == [] and fd.answering("no minions", ["a"]) == []


def test_the_logs_are_copied_out_of_the_work_dir_and_nothing_else(tmp_path):
    work, dest = tmp_path / "work", tmp_path / "logs"
    files = {"master/master.log": "m", "master/console.log": "c", "guests/kf-a/serial-01.log": "boot 1",
             "guests/kf-a/serial-02.log": "boot 2", "guests/kf-a/qemu-01.log": "q",
             "guests/kf-a/share/out/minion.log": "minion", "guests/kf-a/root.qcow2": "disk",
             "etc/master": "config"}
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    assert fd.keep_logs(work, dest) == 6
    copied = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert copied == sorted(set(files) - {"guests/kf-a/root.qcow2", "etc/master"})
    assert (dest / "guests/kf-a/serial-02.log").read_text() == "boot 2"
    assert fd.keep_logs(tmp_path / "missing", dest) == 0


# --------------------------------------------------------------------------- --plan

def test_plan_prints_every_phase_the_commands_the_time_and_the_pillar(tmp_path):
    layout = fd.fleet_layout(3)
    paths = fd.demo_paths(tmp_path / "work", stamp="20260101-000000")
    accel = fd.Accel("tcg", TCG, "no working KVM: MSR")
    lines = fd.plan_lines(fd.Options(), layout, accel, {"trixie": True, "bookworm": False}, paths, [])
    text = "\n".join(lines)
    assert "accelerator: tcg (no working KVM: MSR)" in text
    assert "expected: about 13-26 min, including 1 image build(s)" in text
    assert "(TCG: 3 guests on 2 cores took 12 min here, images cached)" in text
    for number, (key, _what) in enumerate(fd.PHASES, 1):
        assert f"\n{number}. {key}: " in text
    assert "   trixie: cached" in text and "   bookworm: to build (2-5 min)" in text
    assert "kdump.reboot_pending '*' 'confirm=*' batch=3" in text
    assert f"/salt-master -c {tmp_path}/work/etc -l warning" in text
    assert "qemu-system-x86_64 -name kdump-fleet-kf-trixie-a -accel tcg,thread=multi" in text
    assert "restrict=on,guestfwd=tcp:10.0.2.100:4505-cmd:socat - TCP:127.0.0.1:<publish_port>," in text
    assert f"report={REPO}/artifacts/demo/20260101-000000/crashtest.html" in text
    assert f"logs: {REPO}/artifacts/demo/20260101-000000/logs (master, serial consoles, minions" in text
    assert "kf-bookworm      Debian bookworm  own pillar: dump_level 17, volume 768M, crashkernel measured" in text
    assert "value: measured" in text
    assert "value: 192M" in text and "kdump_fleet_special" in text
    kvm = fd.plan_lines(fd.Options(), layout, fd.Accel("kvm", "kvm", "ok"), {"trixie": True, "bookworm": True},
                        paths, [])
    assert any("qemu-system-x86_64 -name kdump-fleet-kf-trixie-a -accel kvm " in line for line in kvm)
    assert "expected: about 5-10 min" in kvm
    problems = fd.plan_lines(fd.Options(), layout, accel, {"trixie": True, "bookworm": True}, paths, ["root: x"])
    assert "the run would stop at preflight:" in problems and "  root: x" in problems


def test_plan_boots_nothing_and_creates_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(fd.tempfile, "tempdir", None)
    monkeypatch.setattr(fd, "detect_accel", lambda choice: fd.Accel("tcg", TCG, "test"))

    def no_process(*args, **kwargs):
        raise AssertionError(f"--plan started a process: {args}")

    monkeypatch.setattr(fd.subprocess, "Popen", no_process)
    monkeypatch.setattr(fd.fl, "FleetGuest", no_process)
    out = []
    assert fd.main(["--plan", "--guests", "2"], out=lambda line="", **_kw: out.append(line)) == 0
    assert out[0].startswith("kdump-formula demo plan: 2 guest(s)")
    assert list(tmp_path.iterdir()) == []


def test_an_impossible_accel_kvm_exits_2_before_anything(monkeypatch):
    def broken(choice):
        raise fd.DemoError("--accel kvm: KVM does not work on this host: MSR")

    monkeypatch.setattr(fd, "detect_accel", broken)
    out = []
    assert fd.main(["--accel", "kvm"], out=lambda line="", **_kw: out.append(line)) == 2
    assert out == ["--accel kvm: KVM does not work on this host: MSR"]


# --------------------------------------------------------------------------- cleanup

# A run whose phases are fakes: the master is a process group of two sleeps (like salt-master
# and its workers), the guests a third sleep behind a power_off; the boot phase blocks (or
# fails) until the test signals it.
FAKE_RUN = textwrap.dedent("""
    import subprocess, sys, time
    from demo import fleet_demo as fd

    def preflight(self):
        self.paths["workdir"].mkdir(parents=True)
        self.cleanup.remove_dir(self.paths["workdir"], keep=self.options.keep)

    def images(self):
        self.images = {}

    def master(self):
        proc = self.cleanup.spawn("salt-master", ["sh", "-c", "sleep 300 & echo $!; sleep 300"],
                                  stdout=subprocess.PIPE, text=True)
        worker = proc.stdout.readline().strip()
        guest = subprocess.Popen(["sleep", "300"], start_new_session=True)
        self.cleanup.add("power off", lambda: fd.stop_group(guest))
        print("PIDS", proc.pid, worker, guest.pid, self.paths["workdir"], flush=True)

    def boot(self):
        if "--fail" in sys.argv:
            raise fd.DemoError("boot: kf-trixie-a did not answer within 900 s")
        time.sleep(300)

    fd.detect_accel = lambda choice: fd.Accel("tcg", fd.TCG, "test")
    fd.Demo.phase_preflight, fd.Demo.phase_images = preflight, images
    fd.Demo.phase_master, fd.Demo.phase_boot = master, boot
    sys.exit(fd.main([a for a in sys.argv[1:] if a != "--fail"]))
""")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purposes
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _fake_run(tmp_path, *args):
    """Start the fake run; return it, its output lines (filled by a reader thread), the pids
    of its fake master, master worker and guest, and its work dir."""
    env = dict(os.environ, TMPDIR=str(tmp_path), PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", FAKE_RUN, *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while not any(line.startswith("PIDS ") for line in lines):
        if proc.poll() is not None or time.monotonic() > deadline:
            _finish(proc, reader)
            raise AssertionError("".join(lines) + f"exit {proc.returncode}")
        time.sleep(0.05)
    _tag, master, worker, guest, workdir = next(line for line in lines if line.startswith("PIDS ")).split()
    return proc, reader, lines, [int(master), int(worker), int(guest)], Path(workdir)


def _wait_for(lines, text, timeout=30):
    deadline = time.monotonic() + timeout
    while not any(text in line for line in lines) and time.monotonic() < deadline:
        time.sleep(0.05)


def _finish(proc, reader):
    try:
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        reader.join(timeout=10)
    return proc.returncode


@pytest.mark.parametrize("sig, name", [(signal.SIGINT, "SIGINT"), (signal.SIGTERM, "SIGTERM"),
                                       (signal.SIGHUP, "SIGHUP")])
def test_an_interrupted_run_stops_every_process_it_started_and_removes_its_work_dir(tmp_path, sig, name):
    proc, reader, lines, pids, workdir = _fake_run(tmp_path)
    assert workdir.parent == tmp_path and workdir.is_dir() and all(_alive(pid) for pid in pids)
    _wait_for(lines, "phase 4/9 boot")  # the boot phase is sleeping
    os.kill(proc.pid, sig)
    code, output = _finish(proc, reader), "".join(lines)
    assert code == 130, output
    assert f"interrupted ({name})" in output
    assert "phase 4/9 boot" in output and "cleaned up" in output
    assert not any(_alive(pid) for pid in pids), output
    assert not workdir.exists()


def test_a_failed_run_cleans_up_and_keep_leaves_the_work_dir(tmp_path):
    proc, reader, lines, pids, workdir = _fake_run(tmp_path, "--fail", "--keep")
    code, output = _finish(proc, reader), "".join(lines)
    assert code == 1, output
    assert "FAILED boot: kf-trixie-a did not answer within 900 s" in output
    assert f"work dir kept: {workdir}" in output
    assert "run with --keep" not in output
    assert not any(_alive(pid) for pid in pids), output
    assert workdir.is_dir()


def test_salt_runs_own_exit_warnings_are_not_shown_and_nothing_else_is_dropped():
    """Seen in the real run: salt-run 3008.4 warns at exit about the Runner it never closed."""
    noise = ["unclosed Runner <salt.runner.Runner object at 0x7fcac7528c50>; call ``destroy()`` or use "
             "as a context manager\n",
             "unclosed MasterMinion <salt.minion.MasterMinion object at 0x7f9f822ba390>; call ``destroy()`` "
             "or use as a context manager\n"]
    kept = ["3 passed, 0 failed, 0 excluded in 5 min 11 s\n", "canary: kf-bookworm dump 108.2 MiB ok\n",
            "unclosed file in kdump runner\n"]
    assert [line for line in noise + kept if not fd.SALT_RUN_EXIT_NOISE.match(line)] == kept


def test_stay_prints_the_commands_then_ends_on_ctrl_c(tmp_path):
    said = []

    def sleep(_seconds):
        raise KeyboardInterrupt

    fd.stay(said.append, tmp_path / "etc", sleep=sleep)
    assert any(f"-c {tmp_path / 'etc'} '*' kdump.status" in line for line in said)
    assert said[-1] == "ending the stay"
