"""Integration tier for the fleet crash test: a real salt-master and three real salt-minions,
``salt-run kdump.crashtest`` and the orchestration SLS, with the test playing the kernel.

Each minion runs the project's real modules against its own fake Debian root (minion option
``kdump_root``): ready for kdump (crashkernel reserved and loaded, the config file present),
``/proc/sysrq-trigger`` a plain file. Whether the kdump-tools service is enabled/running is
answered by a tiny service module chosen through the minion's ``providers`` option (this host
has no init system to ask).

The "kernel" is a thread here: when it sees ``c`` in a minion's fake sysrq-trigger it stops
that minion, writes a new boot_id and (unless told not to) a new, complete Debian kdump-tools
dump directory into its root, and starts the minion again.
"""

import datetime
import json
import pathlib
import threading
import time
import uuid
import xml.etree.ElementTree as ET

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
MINIONS = ("kdt-a", "kdt-b", "kdt-c")
RUN_ARGS = ["reboot_timeout=90", "poll_interval=1", "timeout=3"]

SERVICE_MODULE = '''"""Test double for the service module: every service is enabled and running."""

__virtualname__ = "kdumptest_service"


def __virtual__():
    return __virtualname__


def enabled(name, **kwargs):
    return True


def status(name, sig=None, **kwargs):
    return True
'''

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


class Kernel:
    """Watches the fake sysrq-triggers and 'reboots' a crashed minion: stop, new boot_id,
    a new dump (``saves[id]`` True) or none, start."""

    def __init__(self, minions, roots):
        self.minions, self.roots = minions, roots
        self.saves = {mid: True for mid in minions}
        self.events = []  # (monotonic time, minion id, "crash"|"back")
        self.errors = []
        self.stamp = datetime.datetime(2026, 1, 1, 0, 0)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.reboots = []
        self.thread = threading.Thread(target=self.watch, daemon=True)

    def trigger(self, mid):
        return self.roots[mid] / "proc/sysrq-trigger"

    def crashes(self):
        with self.lock:
            return [mid for _when, mid, what in self.events if what == "crash"]

    def watch(self):
        while not self.stop.is_set():
            for mid in self.minions:
                trigger = self.trigger(mid)
                if "c" in trigger.read_text():
                    trigger.write_text("")
                    with self.lock:
                        self.events.append((time.monotonic(), mid, "crash"))
                    reboot = threading.Thread(target=self.reboot, args=(mid,), daemon=True)
                    self.reboots.append(reboot)
                    reboot.start()
            time.sleep(0.1)

    def reboot(self, mid):
        try:
            root = self.roots[mid]
            self.minions[mid].terminate()
            write(root / "proc/sys/kernel/random/boot_id", f"{uuid.uuid4()}\n")
            if self.saves[mid]:
                with self.lock:
                    self.stamp += datetime.timedelta(minutes=1)
                    stamp = self.stamp.strftime("%Y%m%d%H%M")
                dump_dir = root / "var/crash" / stamp
                dump_dir.mkdir()
                (dump_dir / f"dump.{stamp}").write_bytes(flattened_dump())
                (dump_dir / f"dmesg.{stamp}").write_text(DMESG)
            self.minions[mid].start()
            with self.lock:
                self.events.append((time.monotonic(), mid, "back"))
        except Exception as exc:  # pylint: disable=broad-except
            self.errors.append(f"{mid}: {exc!r}")

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
                    "providers": {"service": "kdumptest_service"},
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
    for mid in MINIONS:
        record = data["minions"][mid]
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
    assert progress[:6] == [("preflight", None), ("stage", "canary"), ("crash", "kdt-a"),
                            ("back", "kdt-a"), ("verified", "kdt-a"), ("stage_done", "canary")]
    assert progress[-1] == ("stage_done", "wave 1")
    assert sorted(progress[6:-1]) == sorted(
        [("stage", "wave 1")] + [(kind, mid) for mid in ("kdt-b", "kdt-c")
                                 for kind in ("crash", "back", "verified")])


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
    assert data["minions"]["kdt-a"]["status"] == "failed"
    assert data["minions"]["kdt-a"]["reason"] == "no new dump was saved"
    for mid in ("kdt-b", "kdt-c"):
        assert data["minions"][mid]["status"] == "skipped"
        assert data["minions"][mid]["reason"] == "not crashed: the run stopped after the canary"
        assert roots[mid].joinpath("proc/sysrq-trigger").stat().st_mtime_ns == untouched[mid]
    assert kernel.crashes()[crashed_before:] == ["kdt-a"]
    assert [s["status"] for s in data["stages"]] == ["failed", "skipped", "skipped"]


def test_orchestration_sls_runs_the_runner_from_pillar(fleet):
    kernel = fleet["kernel"]
    crashed_before = len(kernel.crashes())
    pillar = ('{"kdump_crashtest": {"tgt": "kdt-c", "canary": 1, "reboot_timeout": 90, '
              '"poll_interval": 1, "timeout": 3, "analyze": true} }')
    ret = run(fleet, "state.orchestrate", "orch.kdump_crashtest", f"pillar={pillar}")
    kernel.settle()
    assert ret.returncode == 0, ret
    (state,) = ret.data["data"]["kdt-master"].values()
    assert state["result"] is True, state
    assert state["__id__"] == "kdump-crashtest"
    runner_ret = state["changes"]["return"]
    assert runner_ret["minions"]["kdt-c"]["status"] == "passed"
    assert kernel.crashes()[crashed_before:] == ["kdt-c"]


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
    assert lines[:4] == ["preflight: 3 ready, 0 not ready", "canary: crashing kdt-a",
                         lines[2], lines[3]], ret.stdout
    assert lines[2].startswith("canary: kdt-a crashed (job ") and lines[3].startswith("canary: kdt-a back after ")
    assert "canary: kdt-a dump ok" in lines, ret.stdout
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
