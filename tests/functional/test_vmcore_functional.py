"""Functional tier: the vmcore execution module through Salt's real loaders, on a fake root
holding RHEL and Debian dump directories, with recording stand-ins for makedumpfile and crash
first on PATH."""

import pathlib
import textwrap

import pytest

from tests.fixtures.vmcore import dumpfiles

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "vmcore"
DEBIAN_DMESG = FIXTURES / "dmesg-debian12-sysrq.txt"
RHEL5_DMESG = FIXTURES / "dmesg-rhel5-oops.txt"
CRASH_SYS = FIXTURES / "crash-sys-debian12.txt"


def put(root, path, data):
    real = root / path.lstrip("/")
    real.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        real.write_bytes(data)
    else:
        real.write_text(data, encoding="utf-8")
    return real


@pytest.fixture
def crash_dir(fake_root):
    """/var/crash as a minion that has crashed four times leaves it (RHEL and Debian layouts)."""
    put(fake_root, "/var/crash/202410011200/dump.202410011200",
        dumpfiles.flattened(dumpfiles.kdump_compressed()))
    put(fake_root, "/var/crash/202410011200/dmesg.202410011200", DEBIAN_DMESG.read_text())
    put(fake_root, "/var/crash/202409010700/dump.202409010700",
        dumpfiles.flattened(dumpfiles.kdump_compressed(release="6.1.0-25-amd64")))
    put(fake_root, "/var/crash/127.0.0.1-2024-09-30-08:15:02/vmcore",
        dumpfiles.kdump_compressed(release="2.6.18-398.el5"))
    put(fake_root, "/var/crash/127.0.0.1-2024-09-30-08:15:02/vmcore-dmesg.txt",
        RHEL5_DMESG.read_text())
    put(fake_root, "/var/crash/127.0.0.1-2024-09-29-23:00:00/vmcore-incomplete",
        dumpfiles.kdump_compressed(status=0x9))
    put(fake_root, "/var/crash/lost+found/vmcore", dumpfiles.elf_core())
    put(fake_root, "/var/crash/kdump_lock", "")
    return fake_root / "var/crash"


@pytest.fixture
def tools(fake_bin, tmp_path):
    """makedumpfile and crash stand-ins that record their arguments and write what the real
    tools write: the dmesg file, and one file per redirected crash command."""
    record = tmp_path / "record"
    record.mkdir()
    makedumpfile = fake_bin / "makedumpfile"
    makedumpfile.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        printf '%s\\n' "$@" > {record}/makedumpfile.args
        [ "$1" = "--dump-dmesg" ] || exit 2
        [ -f "$2" ] || {{ echo "makedumpfile: Can't open the dump file($2)." >&2; exit 1; }}
        cp {DEBIAN_DMESG} "$3"
        """))
    crash = fake_bin / "crash"
    crash.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        printf '%s\\n' "$@" > {record}/crash.args
        : > {record}/crash.stdin
        while read -r command redirect target; do
            echo "$command $redirect $target" >> {record}/crash.stdin
            case "$command" in
                sys) cp {CRASH_SYS} "$target" ;;
                bt) printf 'PID: 601      TASK: ffff8880045d0000  CPU: 1    COMMAND: "bash"\\n' > "$target" ;;
                log) cp {DEBIAN_DMESG} "$target" ;;
                quit) exit 0 ;;
            esac
        done
        """))
    for script in (makedumpfile, crash):
        script.chmod(0o755)
    return record


def test_list_recognises_rhel_and_debian_dumps_newest_first(loaders, crash_dir):
    entries = loaders.modules.vmcore.list("/var/crash")
    assert [(e["dir"], e["layout"], e["complete"], e["kernel"], e["format"]) for e in entries] == [
        ("/var/crash/202410011200", "debian", True, "6.1.0-26-amd64", "flattened"),
        ("/var/crash/127.0.0.1-2024-09-30-08:15:02", "rhel", True, "2.6.18-398.el5",
         "kdump-compressed"),
        ("/var/crash/127.0.0.1-2024-09-29-23:00:00", "rhel", False, "6.1.0-26-amd64",
         "kdump-compressed"),
        ("/var/crash/202409010700", "debian", True, "6.1.0-25-amd64", "flattened"),
    ]
    assert entries[0]["time"] == "2024-10-01T12:00:00"
    assert entries[0]["size"] == (crash_dir / "202410011200/dump.202410011200").stat().st_size


def test_list_default_path_follows_the_kdump_tools_configuration(loaders, fake_root, crash_dir):
    if loaders.grains.get("os_family") != "Debian":
        pytest.skip("this host's os_family selects another configuration file")
    put(fake_root, "/etc/default/kdump-tools", 'USE_KDUMP=1\nKDUMP_COREDIR="/srv/dumps"\n')
    assert loaders.modules.vmcore.list() == []
    put(fake_root, "/srv/dumps/202501020304/dump.202501020304", dumpfiles.kdump_compressed())
    assert [e["dir"] for e in loaders.modules.vmcore.list()] == ["/srv/dumps/202501020304"]


def test_analyze_debian_dump_with_its_saved_dmesg(loaders, crash_dir, tools):
    report = loaders.modules.vmcore.analyze("/var/crash/202410011200")
    assert report["panic"] == "Kernel panic - not syncing: sysrq triggered crash"
    assert (report["task"], report["pid"]) == ("bash", 601)
    assert report["call_trace"][:3] == ["dump_stack_lvl+0x44/0x5c", "panic+0x118/0x2fb",
                                        "sysrq_handle_crash+0x16/0x20"]
    assert report["dmesg_source"] == "/var/crash/202410011200/dmesg.202410011200"
    assert report["crash"] is None
    assert not (tools / "makedumpfile.args").exists()


def test_analyze_rhel_dump_with_vmcore_dmesg_txt(loaders, crash_dir, tools):
    report = loaders.modules.vmcore.analyze("/var/crash/127.0.0.1-2024-09-30-08:15:02/vmcore")
    assert report["panic"].startswith("Unable to handle kernel NULL pointer dereference")
    assert (report["task"], report["kernel"]) == ("insmod", "2.6.18-398.el5")


def test_analyze_without_saved_dmesg_runs_makedumpfile(loaders, crash_dir, fake_root, tools):
    report = loaders.modules.vmcore.analyze("/var/crash/202409010700")
    args = (tools / "makedumpfile.args").read_text().splitlines()
    assert args[:2] == ["--dump-dmesg", str(fake_root / "var/crash/202409010700/dump.202409010700")]
    assert report["dmesg_source"] == "makedumpfile"
    assert report["panic"] == "Kernel panic - not syncing: sysrq triggered crash"


def test_analyze_with_vmlinux_runs_crash_and_reads_its_panic(loaders, crash_dir, fake_root, tools):
    put(fake_root, "/usr/lib/debug/boot/vmlinux-6.1.0-26-amd64", b"\x7fELF")
    report = loaders.modules.vmcore.analyze(
        "/var/crash/202410011200", vmlinux="/usr/lib/debug/boot/vmlinux-6.1.0-26-amd64"
    )
    assert (tools / "crash.args").read_text().splitlines() == [
        "-s",
        str(fake_root / "usr/lib/debug/boot/vmlinux-6.1.0-26-amd64"),
        str(fake_root / "var/crash/202410011200/dump.202410011200"),
    ]
    assert [line.split()[0] for line in (tools / "crash.stdin").read_text().splitlines()] == [
        "set", "sys", "bt", "log", "quit"]
    assert report["crash"]["panic"] == "Kernel panic - not syncing: sysrq triggered crash"
    assert report["crash"]["bt"].startswith("PID: 601")


def test_analyze_errors_come_back_as_salt_errors(loaders, crash_dir, tools):
    from salt.exceptions import CommandExecutionError, SaltInvocationError

    with pytest.raises(SaltInvocationError, match="^path: /var/crash/lost\\+found is not a kdump"):
        loaders.modules.vmcore.analyze("/var/crash/lost+found")
    (crash_dir / "202409010700/dump.202409010700").unlink()
    (crash_dir / "202409010700/dump-incomplete").write_bytes(b"")
    (tools.parent / "bin/makedumpfile").write_text(
        "#!/bin/sh\necho 'makedumpfile: The dumpfile is empty.' >&2\nexit 1\n")
    with pytest.raises(CommandExecutionError, match="The dumpfile is empty"):
        loaders.modules.vmcore.analyze("/var/crash/202409010700")


def test_prune_predicts_then_removes_only_dump_directories(loaders, crash_dir):
    predicted = loaders.modules.vmcore.prune(keep=2, test=True)
    assert predicted == {
        "removed": ["/var/crash/127.0.0.1-2024-09-29-23:00:00", "/var/crash/202409010700"],
        "kept": ["/var/crash/202410011200", "/var/crash/127.0.0.1-2024-09-30-08:15:02"],
    }
    assert len(loaders.modules.vmcore.list("/var/crash")) == 4

    assert loaders.modules.vmcore.prune(keep=2) == predicted
    assert sorted(p.name for p in crash_dir.iterdir()) == [
        "127.0.0.1-2024-09-30-08:15:02", "202410011200", "kdump_lock", "lost+found"]
    assert loaders.modules.vmcore.prune(keep=2)["removed"] == []
