"""Integration tier for the kdump runner: a real salt-master and three real salt-minions,
``salt-run kdump.crashtest``, ``kdump.reboot_pending``, ``kdump.audit`` and the two
orchestration SLS, with the test playing the kernel.

Each minion runs the project's real modules against its own fake Debian root (minion option
``kdump_root``): ready for kdump (crashkernel reserved and loaded, the config file present),
``/proc/sysrq-trigger`` a plain file. Whether the kdump-tools service is enabled/running is
answered by a tiny service module chosen through the minion's ``providers`` option (this host
has no init system to ask).

Salt's ``system.reboot`` is not confined by ``kdump_root``: on these minions it would reboot
this machine. The same ``providers`` option replaces the ``system`` module's functions with a
test double (``SYSTEM_MODULE``) that only writes ``<kdump_root>/run/kdumptest-reboot`` and
refuses to act without a fake root; the fleet fixture checks on every minion that
``system.reboot`` is that double before any test runs.

The "kernel" is a thread here: when it sees ``c`` in a minion's fake sysrq-trigger, or the
reboot request file, it stops that minion, writes a new boot_id, after a crash (unless told
not to) a new, complete Debian kdump-tools dump directory, after a reboot the boot loader's
crashkernel= on the running command line, and starts the minion again (or, when told so,
leaves it down).

The master-host guard compares boot_ids: these minions report their fake root's boot_id, so
they are not the master's host, and a test that gives one of them this machine's real
boot_id sees the whole run refused. No switch turns the guard off.
"""

import datetime
import json
import pathlib
import re
import subprocess
import threading
import time
import uuid
import xml.etree.ElementTree as ET

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
MINIONS = ("kdt-a", "kdt-b", "kdt-c")
RUN_ARGS = ["reboot_timeout=90", "poll_interval=1", "timeout=3"]
HOST_BOOT_ID = pathlib.Path("/proc/sys/kernel/random/boot_id")
REBOOT_REQUEST = "run/kdumptest-reboot"

SERVICE_MODULE = '''"""Test double for the service module: every service is enabled and running."""

__virtualname__ = "kdumptest_service"


def __virtual__():
    return __virtualname__


def enabled(name, **kwargs):
    return True


def status(name, sig=None, **kwargs):
    return True
'''

SYSTEM_MODULE = '''"""Test double for Salt's system module (minion providers: system): a reboot is
a request file under the fake root for the test's "kernel"; this machine is never rebooted."""

import os

from salt.exceptions import CommandExecutionError

__virtualname__ = "kdumptest_system"


def __virtual__():
    return __virtualname__


def _fake_root():
    root = __opts__.get("kdump_root") or "/"
    if os.path.realpath(root) == "/":
        raise CommandExecutionError("kdumptest_system: no fake kdump_root, refusing to act")
    return root


def reboot(at_time=None):
    """kdumptest double: ask the test's kernel to reboot this fake host."""
    path = os.path.join(_fake_root(), "REBOOT_REQUEST")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="ascii") as handle:
        handle.write("reboot\\n")
    return "kdumptest: reboot requested"


def shutdown(at_time=None):
    """kdumptest double: never shuts this machine down."""
    raise CommandExecutionError("kdumptest_system: shutdown is not played by the tests")


halt = poweroff = shutdown


def kdumptest_double():
    """True when this minion's system.reboot is this double (the fleet fixture asks)."""
    return __salt__["system.reboot"].__doc__ == reboot.__doc__ and bool(_fake_root())
'''.replace("REBOOT_REQUEST", REBOOT_REQUEST)

DMESG = """[    0.000000] Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) #1 SMP
[  812.114208] sysrq: Trigger a crash
[  812.114730] Kernel panic - not syncing: sysrq triggered crash
[  812.115020] CPU: 0 PID: 1414 Comm: salt-minion Not tainted 6.1.0-18-amd64 #1
[  812.115500] Call Trace:
[  812.115502]  <TASK>
[  812.115510]  dump_stack_lvl+0x44/0x5c
[  812.115520]  panic+0x118/0x2ed
[  812.115530]  sysrq_handle_crash+0x16/0x20
[  812.115540]  </TASK>
"""


def flattened_dump():
    """The smallest file ``vmcore.list`` calls a complete makedumpfile flattened dump: the
    4096-byte header with its signature, no segment, and the end marker."""
    header = b"makedumpfile".ljust(16, b"\0").ljust(4096, b"\0")
    return header + b"\xff" * 16


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def ready_debian_root(root):
    """A Debian 12 host on which kdump is set up and armed."""
    write(root / "etc/default/grub",
          'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="crashkernel=128M"\n')
    (root / "etc/default/grub.d").mkdir(parents=True)
    write(root / "boot/grub/grub.cfg", "menuentry 'Debian GNU/Linux' {\n}\n")
    write(root / "etc/default/kdump-tools", 'USE_KDUMP=1\nKDUMP_COREDIR="/var/crash"\n')
    write(root / "proc/cmdline",
          "BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=0f0e0d0c ro crashkernel=128M quiet\n")
    write(root / "proc/meminfo", "MemTotal:         524288 kB\n")
    write(root / "sys/kernel/kexec_crash_size", "134217728\n")
    write(root / "sys/kernel/kexec_crash_loaded", "1\n")
    write(root / "proc/sys/kernel/sysrq", "0\n")
    write(root / "proc/sysrq-trigger", "")
    write(root / "proc/sys/kernel/random/boot_id", f"{uuid.uuid4()}\n")
    # An old dump from before: the runner must not take it for the new one.
    old = root / "var/crash/202501011200"
    old.mkdir(parents=True)
    (old / "dump.202501011200").write_bytes(flattened_dump())
    (old / "dmesg.202501011200").write_text(DMESG)


def set_boot_id(root, boot_id=None):
    boot_id = boot_id or str(uuid.uuid4())
    write(root / "proc/sys/kernel/random/boot_id", f"{boot_id}\n")
    return boot_id


def configure_crashkernel(root, value):
    """What crashkernel.configured leaves behind: the boot loader gives ``value`` from the
    next boot on (the running kernel keeps its own until then)."""
    grub = root / "etc/default/grub"
    grub.write_text(re.sub(r"crashkernel=\S+?(?=[\s\"])", f"crashkernel={value}", grub.read_text()))


class Kernel:
    """Watches the fake sysrq-triggers and reboot requests and 'reboots' a minion: stop, new
    boot_id; after a crash a new dump (``saves[id]`` True) or none; after a reboot the boot
    loader's crashkernel= in force; start (unless ``returns[id]`` is False: it stays
    down)."""

    def __init__(self, minions, roots):
        self.minions, self.roots = minions, roots
        self.saves = {mid: True for mid in minions}
        self.returns = {mid: True for mid in minions}
        self.events = []  # (monotonic time, minion id, "crash"|"reboot"|"back"|"down")
        self.errors = []
        self.stamp = datetime.datetime(2026, 1, 1, 0, 0)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.reboots = []
        self.thread = threading.Thread(target=self.watch, daemon=True)

    def trigger(self, mid):
        return self.roots[mid] / "proc/sysrq-trigger"

    def seen(self, what):
        with self.lock:
            return [mid for _when, mid, happened in self.events if happened == what]

    def crashes(self):
        return self.seen("crash")

    def watch(self):
        while not self.stop.is_set():
            for mid in self.minions:
                trigger, request = self.trigger(mid), self.roots[mid] / REBOOT_REQUEST
                if "c" in trigger.read_text():
                    trigger.write_text("")
                    self.start_reboot(mid, "crash")
                elif request.exists():
                    request.unlink()
                    self.start_reboot(mid, "reboot")
            time.sleep(0.1)

    def start_reboot(self, mid, why):
        with self.lock:
            self.events.append((time.monotonic(), mid, why))
        reboot = threading.Thread(target=self.reboot, args=(mid, why), daemon=True)
        self.reboots.append(reboot)
        reboot.start()

    def reboot(self, mid, why):
        try:
            root = self.roots[mid]
            self.minions[mid].terminate()
            set_boot_id(root)
            if why == "crash" and self.saves[mid]:
                with self.lock:
                    self.stamp += datetime.timedelta(minutes=1)
                    stamp = self.stamp.strftime("%Y%m%d%H%M")
                dump_dir = root / "var/crash" / stamp
                dump_dir.mkdir()
                (dump_dir / f"dump.{stamp}").write_bytes(flattened_dump())
                (dump_dir / f"dmesg.{stamp}").write_text(DMESG)
            if why == "reboot":
                self.boot_with_configured_crashkernel(mid)
            if not self.returns[mid]:
                with self.lock:
                    self.events.append((time.monotonic(), mid, "down"))
                return
            # "back": the machine boots again. Recorded before the minion starts: the runner
            # acts on the minion's start event, which may come before start() returns here.
            with self.lock:
                self.events.append((time.monotonic(), mid, "back"))
            self.minions[mid].start()
        except Exception as exc:  # pylint: disable=broad-except
            self.errors.append(f"{mid}: {exc!r}")

    def boot_with_configured_crashkernel(self, mid):
        root = self.roots[mid]
        value = re.search(r"crashkernel=(\S+?)[\s\"]", (root / "etc/default/grub").read_text()).group(1)
        cmdline = root / "proc/cmdline"
        cmdline.write_text(re.sub(r"crashkernel=\S+", f"crashkernel={value}", cmdline.read_text()))
        write(root / "sys/kernel/kexec_crash_size", f"{int(value.rstrip('M')) << 20}\n")

    def settle(self):
        for reboot in self.reboots:
            reboot.join(timeout=120)
        assert not self.errors, self.errors


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    deployed = tmp_path_factory.mktemp("kdump-formula")
    for name in ("salt", "_modules", "_states", "_utils", "_runners", "_output"):
        (deployed / name).symlink_to(REPO / name, target_is_directory=True)
    return deployed


@pytest.fixture(scope="module")
def service_module(tmp_path_factory):
    moddir = tmp_path_factory.mktemp("test-modules")
    (moddir / "kdumptest_service.py").write_text(SERVICE_MODULE)
    (moddir / "kdumptest_system.py").write_text(SYSTEM_MODULE)
    return moddir


@pytest.fixture(scope="module")
def fleet(salt_factories, checkout, service_module, tmp_path_factory):
    master = salt_factories.salt_master_daemon(
        "kdt-master",
        overrides={"file_roots": {"base": [str(checkout / "salt"), str(checkout)]}},
    )
    with master.started():
        roots, minions = {}, {}
        for mid in MINIONS:
            roots[mid] = tmp_path_factory.mktemp(f"root-{mid}")
            ready_debian_root(roots[mid])
            minions[mid] = master.salt_minion_daemon(
                mid,
                overrides={
                    "kdump_root": str(roots[mid]),
                    "module_dirs": [str(service_module)],
                    "providers": {"service": "kdumptest_service", "system": "kdumptest_system"},
                },
            )
            minions[mid].start()
        try:
            ret = master.salt_cli(timeout=120).run("saltutil.sync_all", minion_tgt="kdt-*")
            assert ret.returncode == 0, ret
            ret = master.salt_run_cli(timeout=120).run("saltutil.sync_all")
            assert ret.returncode == 0, ret
            assert "runners.kdump" in ret.data["runners"], ret.data
            assert any(name.startswith("utils.kdumplib") for name in ret.data["utils"]), ret.data
            # system.reboot must be the double on every minion before any test may reboot.
            ret = master.salt_cli(timeout=60).run("system.kdumptest_double", minion_tgt="kdt-*")
            assert ret.returncode == 0 and ret.data == dict.fromkeys(MINIONS, True), ret
            kernel = Kernel(minions, roots)
            kernel.thread.start()
            yield {"master": master, "minions": minions, "roots": roots, "kernel": kernel}
            kernel.stop.set()
            kernel.settle()
        finally:
            for minion in minions.values():
                minion.terminate()


def progress_events(stdout):
    """The runner's progress events, which salt-run prints as JSON documents before its return."""
    decoder, events, index = json.JSONDecoder(), [], 0
    while True:
        while index < len(stdout) and stdout[index].isspace():
            index += 1
        if index >= len(stdout):
            return events
        document, index = decoder.raw_decode(stdout, index)
        if isinstance(document, dict) and document.get("suffix") == "progress":
            events.append(document["event"])


def run(fleet, *args):
    return fleet["master"].salt_run_cli(timeout=300).run(*args)


def by_id(data):
    """A runner return's records (a list, in stage order) by minion id."""
    return {record["minion"]: record for record in data["minions"]}


def test_canary_then_wave_all_pass(fleet):
    kernel = fleet["kernel"]
    ret = run(fleet, "kdump.crashtest", "kdt-*", "canary=1", "wave_size=2", "analyze=True",
              *RUN_ARGS)
    kernel.settle()
    assert ret.returncode == 0, ret
    data = ret.data
    assert data["result"] is True, data
    assert [(s["name"], s["minions"], s["status"]) for s in data["stages"]] == [
        ("canary", ["kdt-a"], "passed"),
        ("wave 1", ["kdt-b", "kdt-c"], "passed"),
    ]
    assert [record["minion"] for record in data["minions"]] == list(MINIONS)
    assert data["summary"]["passed"] == 3 and data["duration"] > 0
    for mid in MINIONS:
        record = by_id(data)[mid]
        assert record["status"] == "passed", record
        assert record["dump"].startswith("/var/crash/2026") and record["size"] == 4112, record
        assert record["panic"] == "Kernel panic - not syncing: sysrq triggered crash", record
        assert record["call_trace"] is True
        assert record["seconds"] > 0
    # The kernel saw the canary crash and come back before either wave minion crashed.
    with kernel.lock:
        events = list(kernel.events)
    order = [(mid, what) for _when, mid, what in events]
    assert order[:2] == [("kdt-a", "crash"), ("kdt-a", "back")], order
    assert sorted(order[2:]) == [("kdt-b", "back"), ("kdt-b", "crash"),
                                 ("kdt-c", "back"), ("kdt-c", "crash")], order
    assert data["comment"] == "3 passed"
    progress = [(e["kind"], e.get("minion") or e.get("stage")) for e in progress_events(ret.stdout)]
    # "started": the minion's start event, after which it is asked (never while down).
    assert progress[:7] == [("preflight", None), ("stage", "canary"), ("crash", "kdt-a"),
                            ("started", "kdt-a"), ("back", "kdt-a"), ("verified", "kdt-a"),
                            ("stage_done", "canary")]
    assert progress[-1] == ("stage_done", "wave 1")
    assert sorted(progress[7:-1]) == sorted(
        [("stage", "wave 1")] + [(kind, mid) for mid in ("kdt-b", "kdt-c")
                                 for kind in ("crash", "started", "back", "verified")])


def test_canary_back_without_a_dump_stops_the_run(fleet):
    kernel, roots = fleet["kernel"], fleet["roots"]
    kernel.saves["kdt-a"] = False
    crashed_before = len(kernel.crashes())
    untouched = {mid: roots[mid].joinpath("proc/sysrq-trigger").stat().st_mtime_ns
                 for mid in ("kdt-b", "kdt-c")}
    try:
        ret = run(fleet, "kdump.crashtest", "kdt-*", "canary=1", "wave_size=1", *RUN_ARGS)
        kernel.settle()
    finally:
        kernel.saves["kdt-a"] = True
    assert ret.returncode == 1, ret
    data = ret.data
    assert data["result"] is False and data["retcode"] == 1
    assert by_id(data)["kdt-a"]["status"] == "failed"
    assert by_id(data)["kdt-a"]["reason"] == "no new dump was saved"
    for mid in ("kdt-b", "kdt-c"):
        assert by_id(data)[mid]["status"] == "skipped"
        assert by_id(data)[mid]["reason"] == "not crashed: the run stopped after the canary"
        assert roots[mid].joinpath("proc/sysrq-trigger").stat().st_mtime_ns == untouched[mid]
    assert kernel.crashes()[crashed_before:] == ["kdt-a"]
    assert [s["status"] for s in data["stages"]] == ["failed", "skipped", "skipped"]


def test_crashtest_prints_the_table_and_writes_html_and_junit(fleet):
    """The outputter the runner names, and report=/junit= files; kept under artifacts/report/
    (docs/report.md shows them)."""
    kernel = fleet["kernel"]
    artifacts = REPO / "artifacts" / "report"
    artifacts.mkdir(parents=True, exist_ok=True)
    html_path, junit_path = artifacts / "crashtest.html", artifacts / "crashtest.xml"
    for path in (html_path, junit_path):
        path.unlink(missing_ok=True)
    ret = run(fleet, "kdump.crashtest", "kdt-*", "canary=1", "wave_size=2", "analyze=True",
              f"report={html_path}", f"junit={junit_path}", *RUN_ARGS, "--out=kdump_report")
    kernel.settle()
    (artifacts / "crashtest.txt").write_text(ret.stdout, encoding="utf-8")
    assert ret.returncode == 0, ret
    lines = ret.stdout.splitlines()
    # One line per progress event as it happens, then the table, then the summary.
    assert lines[:5] == ["preflight: 3 ready, 0 not ready", "canary: crashing kdt-a",
                         lines[2], "canary: kdt-a is starting", lines[4]], ret.stdout
    assert lines[2].startswith("canary: kdt-a crashed (job ") and lines[4].startswith("canary: kdt-a back after ")
    assert "canary: kdt-a dump 4.0 KiB ok" in lines, ret.stdout
    header = next(i for i, line in enumerate(lines) if line.startswith("minion "))
    rows = [[cell.strip() for cell in line.split("|")] for line in lines[header + 2:header + 5]]
    assert [row[:3] for row in rows] == [["kdt-a", "canary", "passed"], ["kdt-b", "wave 1", "passed"],
                                         ["kdt-c", "wave 1", "passed"]], ret.stdout
    assert all(row[4].startswith("/var/crash/2026") and row[5] == "4.0 KiB" for row in rows), ret.stdout
    assert all(row[6] == "Kernel panic - not syncing: sysrq tri..." for row in rows), ret.stdout
    summary = lines[header + 6]
    assert summary.startswith("3 passed, 0 failed, 0 excluded in "), ret.stdout

    page = html_path.read_text(encoding="utf-8")
    assert summary in page and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    suite = ET.parse(junit_path).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("3", "0")
    assert sorted(case.get("name") for case in suite.iter("testcase")) == list(MINIONS)


def test_orchestration_sls_runs_the_runner_from_pillar(fleet):
    kernel = fleet["kernel"]
    crashed_before = len(kernel.crashes())
    args = '"tgt": "kdt-c", "canary": 1, "reboot_timeout": 90, "poll_interval": 1, "timeout": 3'
    # test=True: the runner's plan (read-only calls), result None, the stages in the comment.
    ret = run(fleet, "state.orchestrate", "orch.kdump_crashtest",
              f"pillar={{\"kdump_crashtest\": {{{args}}}}}", "test=True")
    assert ret.returncode == 0, ret
    (state,) = ret.data["data"]["kdt-master"].values()
    assert state["result"] is None and state["changes"] == {}, state
    assert state["comment"].splitlines() == [
        state["comment"].splitlines()[0], "plan only (test=True), nothing crashed: 1 planned",
        "canary: kdt-c"], state
    assert state["comment"].startswith("plan: 0 passed, 0 failed, 1 planned, 0 excluded in ")
    assert kernel.crashes()[crashed_before:] == []

    ret = run(fleet, "state.orchestrate", "orch.kdump_crashtest",
              f"pillar={{\"kdump_crashtest\": {{{args}, \"analyze\": true}}}}")
    kernel.settle()
    assert ret.returncode == 0, ret
    (state,) = ret.data["data"]["kdt-master"].values()
    assert state["result"] is True, state
    assert state["__id__"] == "kdump-crashtest"
    assert state["comment"].startswith("1 passed, 0 failed, 0 excluded in "), state
    runner_ret = state["changes"]["report"]
    assert by_id(runner_ret)["kdt-c"]["status"] == "passed"
    assert kernel.crashes()[crashed_before:] == ["kdt-c"]


def orchestrate_streaming(fleet, pillar):
    """``salt-run state.orchestrate orch.kdump_crashtest`` with salt-run's default output (no
    ``--out``), stdout piped as a CI log would be: ``(lines with their monotonic arrival
    time, exit time, exit code, stderr)``."""
    cmdline = fleet["master"].salt_run_cli(timeout=300).cmdline(
        "state.orchestrate", "orch.kdump_crashtest", f"pillar={json.dumps(pillar)}")
    cmdline = [arg for arg in cmdline if arg not in ("--out=json", "--out-indent=0")]
    proc = subprocess.Popen(cmdline, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(
        (time.monotonic(), line.rstrip("\n")) for line in proc.stdout), daemon=True)
    reader.start()
    try:
        returncode = proc.wait(timeout=300)
    finally:
        proc.kill()
    ended = time.monotonic()
    reader.join(timeout=10)
    return lines, ended, returncode, proc.stderr.read()


def test_orchestration_shows_progress_as_it_happens_and_the_verdict(fleet):
    """Each progress line of the runner reaches salt-run's stdout while the orchestration
    runs (the crash line before the kernel brings the minion back), and the state's comment
    and salt-run's exit code carry the verdict."""
    kernel = fleet["kernel"]
    pillar = {"kdump_crashtest": {"tgt": "kdt-b", "canary": 1, "reboot_timeout": 90,
                                  "poll_interval": 1, "timeout": 3}}
    lines, ended, returncode, stderr = orchestrate_streaming(fleet, pillar)
    kernel.settle()
    text = "\n".join(line for _, line in lines)
    (artifacts := REPO / "artifacts" / "report").mkdir(parents=True, exist_ok=True)
    (artifacts / "orchestrate-passed.txt").write_text(text + "\n", encoding="utf-8")
    assert returncode == 0, (text, stderr)
    with kernel.lock:
        back = max(when for when, mid, what in kernel.events if mid == "kdt-b" and what == "back")
    crashed = next(when for when, line in lines if line.startswith("canary: kdt-b crashed (job "))
    assert crashed < back < ended, text
    shown = [line for _, line in lines]
    assert shown[0] == "preflight: 1 ready, 0 not ready", text
    assert "canary: crashing kdt-b" in shown and "canary: kdt-b dump 4.0 KiB ok" in shown, text
    assert shown.index("canary: kdt-b dump 4.0 KiB ok") < shown.index("canary: passed (0 failed so far)")
    assert any(re.match(r"\s*Function: kdump_fleet\.crashtest$", line) for line in shown), text
    assert any(re.match(r"\s*Comment: 1 passed, 0 failed, 0 excluded in \d+ s$", line) for line in shown), text

    kernel.saves["kdt-b"] = False
    try:
        lines, ended, returncode, stderr = orchestrate_streaming(fleet, pillar)
        kernel.settle()
    finally:
        kernel.saves["kdt-b"] = True
    text = "\n".join(line for _, line in lines)
    (artifacts / "orchestrate-failed.txt").write_text(text + "\n", encoding="utf-8")
    assert returncode != 0, (text, stderr)
    verified = next(when for when, line in lines
                    if line == "canary: kdt-b no dump failed: no new dump was saved")
    assert verified < ended, text
    shown = [line.strip() for _, line in lines]
    assert re.search(r"Comment: 0 passed, 1 failed, 0 excluded in \d+ s\n\s*kdt-b: no new dump was saved",
                     text), text
    assert "Result: False" in shown, text


def test_max_failures_tolerates_a_failed_minion_and_the_run_goes_on(fleet):
    kernel = fleet["kernel"]
    kernel.saves["kdt-a"] = False
    crashed_before = len(kernel.crashes())
    try:
        ret = run(fleet, "kdump.crashtest", "kdt-[ab]", "canary=1", "wave_size=1", "max_failures=1",
                  *RUN_ARGS)
        kernel.settle()
    finally:
        kernel.saves["kdt-a"] = True
    assert ret.returncode == 1, ret
    data = ret.data
    assert kernel.crashes()[crashed_before:] == ["kdt-a", "kdt-b"]
    assert [(s["name"], s["minions"], s["status"]) for s in data["stages"]] == [
        ("canary", ["kdt-a"], "failed"), ("wave 1", ["kdt-b"], "passed")]
    records = by_id(data)
    assert records["kdt-a"]["reason"] == "no new dump was saved"
    assert records["kdt-b"]["status"] == "passed" and records["kdt-b"]["dump"].startswith("/var/crash/")
    assert data["result"] is False and data["comment"] == "1 passed, 1 failed"
    assert data["summary"]["passed"] == 1 and data["summary"]["failed"] == 1


def test_bad_arguments_and_a_missing_confirm_make_salt_run_exit_non_zero(fleet):
    kernel = fleet["kernel"]
    with kernel.lock:
        seen = len(kernel.events)
    for fun, args, argument in (
        ("kdump.crashtest", ["wave_size=0%"], "wave_size: '0%' must be a percentage"),
        ("kdump.crashtest", ["canary=x"], "canary: 'x' is not an integer"),
        ("kdump.crashtest", ["reboot_timeout=-5"], "reboot_timeout: -5 must be more than 0"),
        ("kdump.reboot_pending", [], "confirm: None does not repeat the target"),
    ):
        ret = run(fleet, fun, "kdt-*", *args)
        assert ret.returncode == 1, (args, ret)
        assert ret.data["result"] is False and ret.data["comment"].startswith(argument), ret.data
    with kernel.lock:
        assert len(kernel.events) == seen


def test_a_target_that_includes_the_masters_host_is_refused(fleet):
    """kdt-c gets this machine's real boot_id: to the runner it now runs on the master's host."""
    kernel, roots = fleet["kernel"], fleet["roots"]
    own = roots["kdt-c"].joinpath("proc/sys/kernel/random/boot_id").read_text().strip()
    set_boot_id(roots["kdt-c"], HOST_BOOT_ID.read_text().strip())
    crashed_before = len(kernel.crashes())
    try:
        ret = run(fleet, "kdump.crashtest", "kdt-*", *RUN_ARGS)
        audit = run(fleet, "kdump.audit", "kdt-[bc]", "timeout=3")
    finally:
        set_boot_id(roots["kdt-c"], own)
    assert ret.returncode == 1, ret
    assert ret.data["comment"] == ("refused: kdt-c runs on the master's own host; exclude it from "
                                   "the target. Nothing was crashed")
    records = by_id(ret.data)
    assert records["kdt-c"]["status"] == "refused"
    assert records["kdt-c"]["reason"].startswith("runs on the master's own host (its boot_id")
    assert {records[mid]["status"] for mid in ("kdt-a", "kdt-b")} == {"skipped"}
    assert kernel.crashes()[crashed_before:] == []
    assert audit.returncode == 0, audit
    assert by_id(audit.data)["kdt-c"]["master_host"].startswith("runs on the master's own host")
    assert by_id(audit.data)["kdt-b"]["master_host"] is None


def test_reboot_orchestration_refuses_without_confirm_then_reboots(fleet):
    kernel, roots = fleet["kernel"], fleet["roots"]
    configure_crashkernel(roots["kdt-c"], "192M")
    args = '"tgt": "kdt-*", "reboot_timeout": 60, "poll_interval": 1, "timeout": 3'
    ret = run(fleet, "state.orchestrate", "orch.kdump_reboot", f"pillar={{\"kdump_reboot\": {{{args}}}}}")
    assert ret.returncode != 0, ret
    (state,) = ret.data["data"]["kdt-master"].values()
    assert state["result"] is False and state["changes"] == {}, state
    assert state["comment"].splitlines()[1].startswith("confirm: None does not repeat the target")
    assert kernel.seen("reboot").count("kdt-c") == 0

    ret = run(fleet, "state.orchestrate", "orch.kdump_reboot",
              f"pillar={{\"kdump_reboot\": {{{args}, \"confirm\": \"kdt-*\"}}}}")
    kernel.settle()
    assert ret.returncode == 0, ret
    (state,) = ret.data["data"]["kdt-master"].values()
    assert state["result"] is True and state["__id__"] == "kdump-reboot-pending"
    assert state["comment"].startswith("1 ready, 0 failed, 2 not pending in "), state
    records = by_id(state["changes"]["report"])
    assert records["kdt-c"]["status"] == "ready"
    assert {records[mid]["status"] for mid in ("kdt-a", "kdt-b")} == {"not_pending"}
    assert kernel.seen("reboot").count("kdt-c") == 1


def test_reboot_pending_reboots_only_pending_minions_and_reports_one_that_never_returns(fleet):
    """Last in this module: kdt-b stays down (reviving it would cost a minion start)."""
    kernel, roots = fleet["kernel"], fleet["roots"]
    configure_crashkernel(roots["kdt-a"], "256M")
    configure_crashkernel(roots["kdt-b"], "256M")
    audit = run(fleet, "kdump.audit", "kdt-*", "timeout=3")
    assert audit.returncode == 1, audit
    assert {mid: r["status"] for mid, r in by_id(audit.data).items()} == {
        "kdt-a": "reboot_pending", "kdt-b": "reboot_pending", "kdt-c": "ready"}
    assert by_id(audit.data)["kdt-a"]["reason"] == (
        "reboot pending: the boot loader gives crashkernel=256M, the running kernel has crashkernel=128M")

    kernel.returns["kdt-b"] = False
    with kernel.lock:
        seen = len(kernel.events)
    # One batch of two, rebooted together: the wait is the timeout, not a reboot plus it.
    ret = run(fleet, "kdump.reboot_pending", "kdt-*", "confirm=kdt-*", "batch=100%",
              "reboot_timeout=20", "poll_interval=1", "timeout=3")
    kernel.settle()
    assert ret.returncode == 1, ret
    data = ret.data
    with kernel.lock:
        happened = [(mid, what) for _when, mid, what in kernel.events[seen:]]
    assert sorted(happened) == [("kdt-a", "back"), ("kdt-a", "reboot"), ("kdt-b", "down"),
                                ("kdt-b", "reboot")]
    assert [(s["name"], s["minions"], s["status"]) for s in data["stages"]] == [
        ("batch 1", ["kdt-a", "kdt-b"], "failed")]
    records = by_id(data)
    assert records["kdt-a"]["status"] == "ready" and records["kdt-a"]["ready"] is True
    assert records["kdt-a"]["seconds"] > 0
    # "started" is there when the start event came before the minion answered (it may not).
    assert {"reboot", "back", "ready"} <= set(records["kdt-a"]["timeline"])
    assert records["kdt-b"]["status"] == "failed"
    assert records["kdt-b"]["reason"] == "did not come back with a new boot_id within 20 s"
    assert records["kdt-c"]["status"] == "not_pending"
    assert data["comment"] == "1 ready, 1 failed, 1 not pending"
    assert "crashkernel=256M" in roots["kdt-a"].joinpath("proc/cmdline").read_text()
    progress = [(e["kind"], e.get("minion")) for e in progress_events(ret.stdout)]
    assert ("back", "kdt-a") in progress and ("timeout", "kdt-b") in progress
