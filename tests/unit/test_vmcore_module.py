"""Unit tier: the vmcore execution module over a fake root, with recording stand-ins for
``cmd.run_all`` (makedumpfile, crash) and Salt's real ``file.remove``."""

import pathlib

import pytest
import salt.modules.file as salt_file
from kdumplib import dumpdir
from salt.exceptions import CommandExecutionError, SaltInvocationError

from _modules import vmcore
from tests.fixtures.vmcore import dumpfiles

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "vmcore"
DEBIAN_DMESG = (FIXTURES / "dmesg-debian12-sysrq.txt").read_text(encoding="utf-8")
CRASH_SYS = (FIXTURES / "crash-sys-debian12.txt").read_text(encoding="utf-8")


class RecordingRunner:
    """``cmd.run_all`` for makedumpfile and crash: records argv/stdin, writes what the real
    tools would write, or fails with a given stderr."""

    def __init__(self):
        self.calls = []
        self.fail = {}

    def __call__(self, cmd, python_shell=None, stdin=None, **kwargs):
        self.calls.append({"cmd": list(cmd), "python_shell": python_shell, "stdin": stdin})
        if cmd[0] in self.fail:
            return {"retcode": 1, "stdout": "", "stderr": self.fail[cmd[0]], "pid": 1}
        if cmd[0] == "makedumpfile":
            pathlib.Path(cmd[3]).write_text(DEBIAN_DMESG, encoding="utf-8")
        elif cmd[0] == "crash":
            outputs = {"sys": CRASH_SYS, "bt": "PID: 601      TASK: ffff8880045d0000  CPU: 1"
                       "    COMMAND: \"bash\"\n #0 [ffffc90000a3bd10] machine_kexec at ffffffff8b06e6a7\n",
                       "log": DEBIAN_DMESG}
            for line in stdin.splitlines():
                if " > " in line:
                    command, target = line.split(" > ")
                    pathlib.Path(target).write_text(outputs[command], encoding="utf-8")
        return {"retcode": 0, "stdout": "", "stderr": "", "pid": 1}


@pytest.fixture
def runner():
    return RecordingRunner()


@pytest.fixture
def settings_path():
    return {"path": None}


@pytest.fixture
def configure_loader_modules(root, runner, settings_path):
    salt_funcs = {"cmd.run_all": runner, "file.remove": salt_file.remove}
    if settings_path["path"]:
        # kdump.settings and kdump.dump_dir of one configuration: its target, the host's mounts.
        target = settings_path.get("target") or {"type": "local", "path": settings_path["path"]}
        salt_funcs["kdump.settings"] = lambda: {"target": dict(target)}
        salt_funcs["kdump.dump_dir"] = lambda: dumpdir.locate(
            settings_path.get("family", "Debian"), target, mounts=settings_path.get("mounts", {})
        )
    return {
        vmcore: {
            "__opts__": {"kdump_root": str(root)},
            "__grains__": {"kernel": "Linux", "os_family": "Debian"},
            "__salt__": salt_funcs,
        }
    }


def write(root, path, data):
    real = root / path.lstrip("/")
    real.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        real.write_text(data, encoding="utf-8")
    else:
        real.write_bytes(data)
    return real


def make_crash_dir(root, base="/var/crash"):
    """Two Debian dumps, one RHEL dump still being written, and things kdump did not write."""
    write(root, f"{base}/202410011200/dump.202410011200",
          dumpfiles.flattened(dumpfiles.kdump_compressed()))
    write(root, f"{base}/202410011200/dmesg.202410011200", DEBIAN_DMESG)
    write(root, f"{base}/202409150830/dump.202409150830",
          dumpfiles.flattened(dumpfiles.kdump_compressed(release="6.1.0-25-amd64"), end=False))
    write(root, f"{base}/127.0.0.1-2024-09-20-10:11:12/vmcore-incomplete",
          dumpfiles.kdump_compressed(status=0x9))
    write(root, f"{base}/keepme/vmcore", dumpfiles.elf_core())
    write(root, f"{base}/kexec_cmd", "/sbin/kexec -p ...\n")


# ------------------------------------------------------------------ __virtual__


def test_virtual_refuses_non_linux(configure_loader_modules):
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(vmcore.__grains__, "kernel", "Windows")
        assert vmcore.__virtual__() == (False, "vmcore: kdump crash dumps exist only on Linux")
    assert vmcore.__virtual__() == "vmcore"


# ------------------------------------------------------------------ list


def test_list_newest_first_with_formats_and_completeness(root):
    make_crash_dir(root)
    entries = vmcore.list_()
    assert [e["dir"] for e in entries] == [
        "/var/crash/202410011200",
        "/var/crash/127.0.0.1-2024-09-20-10:11:12",
        "/var/crash/202409150830",
    ]
    newest, rhel, truncated = entries
    assert newest == {
        "path": "/var/crash/202410011200/dump.202410011200",
        "dir": "/var/crash/202410011200",
        "time": "2024-10-01T12:00:00",
        "size": len(dumpfiles.flattened(dumpfiles.kdump_compressed())),
        "complete": True,
        "kernel": "6.1.0-26-amd64",
        "format": "flattened",
        "layout": "debian",
        "dmesg": "/var/crash/202410011200/dmesg.202410011200",
        "reason": None,
    }
    assert (rhel["complete"], rhel["format"], rhel["layout"]) == (False, "kdump-compressed", "rhel")
    assert "vmcore-incomplete" in rhel["reason"]
    assert (truncated["complete"], truncated["kernel"]) == (False, "6.1.0-25-amd64")
    assert "end marker" in truncated["reason"]


def test_list_reports_empty_dump_and_dmesg_only_directories(root):
    write(root, "/var/crash/202401010101/dump.202401010101", b"")
    write(root, "/var/crash/202401020202/dmesg.202401020202", DEBIAN_DMESG)
    entries = {e["dir"]: e for e in vmcore.list_()}
    empty = entries["/var/crash/202401010101"]
    assert (empty["format"], empty["complete"], empty["size"]) == ("empty", False, 0)
    only_dmesg = entries["/var/crash/202401020202"]
    assert (only_dmesg["path"], only_dmesg["format"], only_dmesg["complete"]) == (None, "missing", False)
    assert only_dmesg["kernel"] == "6.1.0-26-amd64"


def test_list_ignores_symlinked_directories(root, tmp_path):
    outside = tmp_path / "elsewhere" / "202410011200"
    outside.mkdir(parents=True)
    (outside / "dump.202410011200").write_bytes(dumpfiles.kdump_compressed())
    (root / "var" / "crash").mkdir(parents=True)
    (root / "var" / "crash" / "202410011200").symlink_to(outside)
    assert vmcore.list_() == []


def test_list_of_missing_directory_is_empty(root):
    assert vmcore.list_() == []
    assert vmcore.list_("/srv/nothing-here") == []


def test_list_rejects_relative_path():
    with pytest.raises(SaltInvocationError, match="^path: 'var/crash' is not an absolute path"):
        vmcore.list_("var/crash")


@pytest.mark.parametrize("settings_path", [{"path": "/srv/crash"}], indirect=False)
def test_list_default_is_the_configured_dump_path(root, settings_path):
    make_crash_dir(root, "/srv/crash")
    make_crash_dir(root, "/var/crash")
    assert {e["dir"].rsplit("/", 1)[0] for e in vmcore.list_()} == {"/srv/crash"}


REDHAT_DEVICE = {
    "path": "/var/crash",
    "family": "RedHat",
    "target": {"type": "device", "device": "/dev/mapper/vg-dumps", "fstype": "xfs", "path": "/var/crash"},
    "mounts": {"/": "/dev/vda1", "/srv/dumps": "/dev/mapper/vg-dumps"},
}


@pytest.mark.parametrize("settings_path", [REDHAT_DEVICE], indirect=False)
def test_list_default_on_redhat_looks_inside_the_mounted_dump_device(root, settings_path):
    """kdump.conf's path is relative to the device: the dumps are in /srv/dumps/var/crash."""
    make_crash_dir(root, "/srv/dumps/var/crash")
    make_crash_dir(root, "/var/crash")
    assert {e["dir"].rsplit("/", 1)[0] for e in vmcore.list_()} == {"/srv/dumps/var/crash"}


def test_list_explicit_path(root):
    write(root, "/data/dumps/2024-10-01-12:00/vmcore", dumpfiles.elf_core())
    write(root, "/data/dumps/2024-10-01-12:00/README.txt", "Kernel crashdump\n")
    (entry,) = vmcore.list_("/data/dumps/")
    assert (entry["layout"], entry["format"], entry["kernel"]) == ("suse", "elf", "6.1.0-26-amd64")
    assert entry["path"] == "/data/dumps/2024-10-01-12:00/vmcore"


# ------------------------------------------------------------------ analyze


def test_analyze_uses_the_saved_dmesg_and_runs_nothing(root, runner):
    make_crash_dir(root)
    report = vmcore.analyze("/var/crash/202410011200")
    assert report["panic"] == "Kernel panic - not syncing: sysrq triggered crash"
    assert (report["task"], report["pid"], report["cpu"]) == ("bash", 601, 1)
    assert report["call_trace"][2] == "sysrq_handle_crash+0x16/0x20"
    assert report["dmesg_source"] == "/var/crash/202410011200/dmesg.202410011200"
    assert report["crash"] is None
    assert runner.calls == []


def test_analyze_reads_dmesg_out_of_the_dump_with_makedumpfile(root, runner):
    make_crash_dir(root)
    report = vmcore.analyze("/var/crash/127.0.0.1-2024-09-20-10:11:12/vmcore-incomplete")
    (call,) = runner.calls
    assert call["cmd"][:3] == ["makedumpfile", "--dump-dmesg",
                               str(root / "var/crash/127.0.0.1-2024-09-20-10:11:12/vmcore-incomplete")]
    assert call["python_shell"] is False
    assert not pathlib.Path(call["cmd"][3]).exists(), "temporary dmesg file is cleaned up"
    assert report["dmesg_source"] == "makedumpfile"
    assert report["panic"] == "Kernel panic - not syncing: sysrq triggered crash"


def test_analyze_makedumpfile_failure_names_command_and_stderr(root, runner):
    make_crash_dir(root)
    runner.fail["makedumpfile"] = "The kernel version is not supported."
    with pytest.raises(CommandExecutionError) as err:
        vmcore.analyze("/var/crash/202409150830")
    assert "makedumpfile --dump-dmesg" in str(err.value)
    assert "The kernel version is not supported." in str(err.value)


def test_analyze_with_vmlinux_runs_crash_in_batch_mode(root, runner):
    make_crash_dir(root)
    write(root, "/tmp/vmlinux-6.1.0-26-amd64", b"\x7fELF debug kernel")
    report = vmcore.analyze("/var/crash/202410011200", vmlinux="/tmp/vmlinux-6.1.0-26-amd64")
    (call,) = runner.calls
    assert call["cmd"] == ["crash", "-s", str(root / "tmp/vmlinux-6.1.0-26-amd64"),
                           str(root / "var/crash/202410011200/dump.202410011200")]
    assert call["python_shell"] is False
    assert [line.split(" > ")[0] for line in call["stdin"].splitlines()] == [
        "set scroll off", "sys", "bt", "log", "quit"]
    assert report["crash"]["panic"] == "Kernel panic - not syncing: sysrq triggered crash"
    assert report["crash"]["bt"].startswith("PID: 601")
    assert "RELEASE: 6.1.0-26-amd64" in report["crash"]["sys"]
    assert "sysrq: Trigger a crash" in report["crash"]["log"]


def test_analyze_finds_the_installed_debug_vmlinux(root, runner, monkeypatch):
    make_crash_dir(root)
    write(root, "/usr/lib/debug/lib/modules/6.1.0-26-amd64/vmlinux", b"\x7fELF")
    monkeypatch.setattr(vmcore.salt.utils.path, "which", lambda name: "/usr/bin/crash")
    report = vmcore.analyze("/var/crash/202410011200")
    assert runner.calls[0]["cmd"][2] == str(root / "usr/lib/debug/lib/modules/6.1.0-26-amd64/vmlinux")
    assert report["crash"]["panic"] == report["panic"]


def test_analyze_skips_crash_when_it_is_not_installed(root, runner, monkeypatch):
    make_crash_dir(root)
    write(root, "/usr/lib/debug/boot/vmlinux-6.1.0-26-amd64", b"\x7fELF")
    monkeypatch.setattr(vmcore.salt.utils.path, "which", lambda name: None)
    assert vmcore.analyze("/var/crash/202410011200")["crash"] is None
    assert runner.calls == []


def test_analyze_crash_failure(root, runner):
    make_crash_dir(root)
    write(root, "/tmp/vmlinux", b"\x7fELF")
    runner.fail["crash"] = "crash: vmlinux and dump.202410011200 do not match!"
    with pytest.raises(CommandExecutionError, match="do not match"):
        vmcore.analyze("/var/crash/202410011200", vmlinux="/tmp/vmlinux")


@pytest.mark.parametrize(
    "path, vmlinux, message",
    [
        ("/var/crash/nothing", None, "^path: /var/crash/nothing does not exist"),
        ("var/crash/202410011200", None, "^path: 'var/crash/202410011200' is not an absolute path"),
        ("/var/crash/keepme", None, "^path: /var/crash/keepme is not a kdump dump directory"),
        ("/var/crash/202410011200", "/no/vmlinux", "^vmlinux: /no/vmlinux does not exist"),
    ],
)
def test_analyze_bad_arguments(root, runner, path, vmlinux, message):
    make_crash_dir(root)
    with pytest.raises(SaltInvocationError, match=message):
        vmcore.analyze(path, vmlinux=vmlinux)
    assert runner.calls == []


def test_analyze_vmlinux_without_a_dump_is_refused(root, runner):
    write(root, "/var/crash/202401020202/dmesg.202401020202", DEBIAN_DMESG)
    write(root, "/tmp/vmlinux", b"\x7fELF")
    with pytest.raises(SaltInvocationError, match="^vmlinux: given, but"):
        vmcore.analyze("/var/crash/202401020202", vmlinux="/tmp/vmlinux")
    assert runner.calls == []


# ------------------------------------------------------------------ prune


@pytest.mark.parametrize("keep", [-1, True, "2", 1.5, None])
def test_prune_rejects_bad_keep_before_touching_anything(root, keep):
    make_crash_dir(root)
    with pytest.raises(SaltInvocationError, match="^keep: "):
        vmcore.prune(keep)
    assert len(vmcore.list_()) == 3


def test_prune_test_mode_removes_nothing(root):
    make_crash_dir(root)
    result = vmcore.prune(1, test=True)
    assert result == {
        "removed": ["/var/crash/127.0.0.1-2024-09-20-10:11:12", "/var/crash/202409150830"],
        "kept": ["/var/crash/202410011200"],
    }
    assert len(vmcore.list_()) == 3


def test_prune_removes_oldest_and_nothing_kdump_did_not_write(root):
    make_crash_dir(root)
    result = vmcore.prune(1)
    assert result["kept"] == ["/var/crash/202410011200"]
    assert [e["dir"] for e in vmcore.list_()] == ["/var/crash/202410011200"]
    assert not (root / "var/crash/202409150830").exists()
    assert (root / "var/crash/keepme/vmcore").exists()
    assert (root / "var/crash/kexec_cmd").exists()


def test_prune_keep_zero_and_keep_more_than_there_are(root):
    make_crash_dir(root)
    assert vmcore.prune(10) == {"removed": [], "kept": [e["dir"] for e in vmcore.list_()]}
    assert len(vmcore.prune(0)["removed"]) == 3
    assert vmcore.list_() == []
    assert (root / "var/crash/keepme").is_dir()
