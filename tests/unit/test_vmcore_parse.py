"""kdumplib.vmcore: layouts, dump formats, dmesg and crash output, on realistic inputs."""

import pathlib

import pytest

from kdumplib import vmcore
from tests.fixtures.vmcore import dumpfiles

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "vmcore"


def fixture_text(name):
    return (FIXTURES / name).read_text(encoding="utf-8")


def identify(data):
    return vmcore.identify(dumpfiles.reader(data), len(data))


# ------------------------------------------------------------------ directory layouts


def test_rhel_directory_with_dump_and_dmesg():
    found = vmcore.match_dump_dir(
        "127.0.0.1-2024-10-01-12:00:52", ["vmcore", "vmcore-dmesg.txt", "kexec-dmesg.log"]
    )
    assert found == {
        "layout": "rhel",
        "host": "127.0.0.1",
        "time": "2024-10-01T12:00:52",
        "dump": "vmcore",
        "incomplete": False,
        "dmesg": "vmcore-dmesg.txt",
    }


def test_rhel_directory_still_being_written_is_incomplete():
    found = vmcore.match_dump_dir("192.168.1.5-2024-10-01-12:00:52", ["vmcore-incomplete"])
    assert found["dump"] == "vmcore-incomplete"
    assert found["incomplete"] is True
    assert found["dmesg"] is None


def test_rhel_ssh_flat_dump_is_recognised():
    found = vmcore.match_dump_dir("10.0.0.7-2023-02-28-23:59:59", ["vmcore.flat"])
    assert (found["dump"], found["incomplete"]) == ("vmcore.flat", False)


def test_debian_directory_uses_the_stamp_in_file_names():
    found = vmcore.match_dump_dir("202410011200", ["dump.202410011200", "dmesg.202410011200",
                                                   "kernel_link"])
    assert found == {
        "layout": "debian",
        "host": None,
        "time": "2024-10-01T12:00:00",
        "dump": "dump.202410011200",
        "incomplete": False,
        "dmesg": "dmesg.202410011200",
    }


@pytest.mark.parametrize("name", ["dump.202410011200.gz", "dump.202410011200.xz",
                                  "vmcore.202410011200"])
def test_debian_compressed_and_cp_fallback_dumps(name):
    assert vmcore.match_dump_dir("202410011200", [name])["dump"] == name


def test_debian_file_with_another_stamp_is_not_this_dump():
    assert vmcore.match_dump_dir("202410011200", ["dump.202301010000"]) is None


def test_debian_incomplete_and_network_host_prefix():
    found = vmcore.match_dump_dir("10.1.2.3-202410011200", ["dump-incomplete", "dmesg.202410011200"])
    assert (found["host"], found["dump"], found["incomplete"]) == ("10.1.2.3", "dump-incomplete", True)


def test_debian_dmesg_only_directory_is_recognised_without_dump():
    found = vmcore.match_dump_dir("202410011200", ["dmesg.202410011200"])
    assert (found["dump"], found["dmesg"], found["incomplete"]) == (None, "dmesg.202410011200", False)


def test_suse_directory():
    found = vmcore.match_dump_dir("2024-10-01-12:00", ["vmcore", "README.txt", "System.map-6.4.0"])
    assert (found["layout"], found["time"], found["dump"]) == ("suse", "2024-10-01T12:00:00", "vmcore")


@pytest.mark.parametrize(
    "name, filenames",
    [
        ("202410011200", ["notes.txt"]),  # right name, nothing kdump writes
        ("lost+found", ["vmcore"]),
        ("202413011200", ["dump.202413011200"]),  # month 13
        ("127.0.0.1-2024-02-30-12:00:00", ["vmcore"]),  # no 30 February
        ("backup-2024", ["vmcore"]),
        ("2024-10-01-12:00", []),
    ],
)
def test_directories_kdump_did_not_write_are_not_recognised(name, filenames):
    assert vmcore.match_dump_dir(name, filenames) is None


# ------------------------------------------------------------------ formats


def test_kdump_compressed_header_gives_release_and_completeness():
    facts = identify(dumpfiles.kdump_compressed())
    assert facts == {"format": "kdump-compressed", "complete": True,
                     "kernel": "6.1.0-26-amd64", "reason": None}


def test_kdump_compressed_incomplete_flag():
    facts = identify(dumpfiles.kdump_compressed(status=0x1 | 0x8))
    assert facts["complete"] is False
    assert "incomplete" in facts["reason"]
    assert facts["kernel"] == "6.1.0-26-amd64"


def test_kdump_compressed_shorter_than_its_headers_is_truncated():
    data = dumpfiles.kdump_compressed(bitmap_blocks=4, pages=0)[: 4096 * 3]
    facts = identify(data)
    assert facts["complete"] is False
    assert "headers alone need 24576" in facts["reason"]


def test_kdump_compressed_32bit_header_offsets():
    facts = identify(dumpfiles.kdump_compressed(machine="i686", status=0x8))
    assert (facts["kernel"], facts["complete"]) == ("6.1.0-26-amd64", False)
    assert identify(dumpfiles.kdump_compressed(machine="i686"))["complete"] is True


def test_diskdump_signature():
    assert identify(dumpfiles.kdump_compressed(signature=b"DISKDUMP"))["format"] == "diskdump"


def test_flattened_stream_reads_the_inner_header():
    facts = identify(dumpfiles.flattened(dumpfiles.kdump_compressed(release="5.10.0-32-amd64")))
    assert facts == {"format": "flattened", "complete": True,
                     "kernel": "5.10.0-32-amd64", "reason": None}


def test_flattened_stream_without_end_marker_is_truncated():
    facts = identify(dumpfiles.flattened(dumpfiles.kdump_compressed(), end=False))
    assert facts["complete"] is False
    assert "end marker" in facts["reason"]


def test_flattened_stream_carrying_an_incomplete_dump():
    facts = identify(dumpfiles.flattened(dumpfiles.kdump_compressed(status=0x9)))
    assert facts["complete"] is False and "incomplete" in facts["reason"]


def test_elf64_core_release_from_vmcoreinfo_note():
    facts = identify(dumpfiles.elf_core())
    assert facts == {"format": "elf", "complete": True, "kernel": "6.1.0-26-amd64", "reason": None}


def test_elf64_core_cut_short_is_truncated():
    facts = identify(dumpfiles.elf_core(truncate_by=100))
    assert facts["complete"] is False
    assert "segments end at" in facts["reason"]


def test_elf32_core():
    facts = identify(dumpfiles.elf_core(release="2.6.18-398.el5PAE", elf_class=32))
    assert (facts["format"], facts["kernel"], facts["complete"]) == ("elf", "2.6.18-398.el5PAE", True)


def test_elf_with_truncated_header():
    facts = identify(b"\x7fELF\x02\x01\x01" + bytes(20))
    assert facts["complete"] is False and "truncated" in facts["reason"]


@pytest.mark.parametrize(
    "head, name",
    [(b"\x1f\x8b\x08\x00", "gzip"), (b"BZh91AY", "bzip2"), (b"\xfd7zXZ\x00\x00", "xz"),
     (b"\x04\x22\x4d\x18\x64", "lz4")],
)
def test_kdump_tools_compression_wrappers(head, name):
    facts = identify(head + bytes(64))
    assert (facts["format"], facts["complete"]) == (name, True)


def test_empty_and_unknown_files():
    assert identify(b"") == {"format": "empty", "complete": False, "kernel": None,
                             "reason": "file is empty"}
    facts = identify(b"this is not a dump at all")
    assert (facts["format"], facts["complete"]) == ("unknown", False)


# ------------------------------------------------------------------ dmesg


def test_debian12_sysrq_panic():
    report = vmcore.parse_dmesg(fixture_text("dmesg-debian12-sysrq.txt"))
    assert report["panic"] == "Kernel panic - not syncing: sysrq triggered crash"
    assert (report["task"], report["pid"], report["cpu"]) == ("bash", 601, 1)
    assert report["kernel"] == "6.1.0-26-amd64"
    assert report["call_trace"][:3] == ["dump_stack_lvl+0x44/0x5c", "panic+0x118/0x2fb",
                                        "sysrq_handle_crash+0x16/0x20"]
    assert report["call_trace"][-1] == "entry_SYSCALL_64_after_hwframe+0x6e/0xd8"
    assert "? exit_to_user_mode_prepare+0x44/0x1f0" in report["call_trace"]
    # register dump inside <TASK> ... </TASK> is not part of the trace
    assert not any(frame.startswith(("RIP", "RSP", "RAX", "Code")) for frame in report["call_trace"])
    assert len(report["call_trace"]) == 12
    assert report["dmesg_tail"][-1].endswith("(relocation range: 0xffffffff80000000-0xffffffffbfffffff)")
    assert "[   52.163424] sysrq: Trigger a crash" in report["dmesg_tail"]


def test_rhel5_oops_without_panic_line():
    report = vmcore.parse_dmesg(fixture_text("dmesg-rhel5-oops.txt"))
    assert report["panic"] == (
        "Unable to handle kernel NULL pointer dereference at 0000000000000000 RIP:"
    )
    assert (report["task"], report["pid"], report["cpu"]) == ("insmod", 3211, 0)
    assert report["kernel"] == "2.6.18-398.el5"
    assert report["call_trace"] == ["[<ffffffff800a8d6b>] sys_init_module+0xaf/0x1f2",
                                    "[<ffffffff8005d116>] system_call+0x7e/0x83"]


def test_dmesg_tail_keeps_only_the_last_lines():
    text = "\n".join(f"[{n:5d}.000000] line {n}" for n in range(200))
    report = vmcore.parse_dmesg(text)
    assert len(report["dmesg_tail"]) == vmcore.DMESG_TAIL_LINES
    assert report["dmesg_tail"][-1] == "[  199.000000] line 199"
    assert report["panic"] is None and report["task"] is None and report["call_trace"] == []


def test_newer_kernel_task_line_with_uid_and_kdump_loaded():
    text = (
        "[   17.519617] Kernel panic - not syncing: sysrq triggered crash\n"
        "[   17.519964] CPU: 18 UID: 0 PID: 8948 Comm: echo Kdump: loaded Not tainted 6.17.0-1008-azure #8\n"
        "[   17.521245] Call Trace:\n[   17.521366]  <TASK>\n[   17.521510]  dump_stack_lvl+0x27/0x70\n"
        "[   17.522236]  vpanic+0x31f/0x3b0\n[   17.522300]  </TASK>\n"
    )
    report = vmcore.parse_dmesg(text)
    assert (report["task"], report["pid"], report["cpu"]) == ("echo", 8948, 18)
    assert report["call_trace"] == ["dump_stack_lvl+0x27/0x70", "vpanic+0x31f/0x3b0"]


def test_last_panic_wins_and_irq_and_module_frames_are_kept():
    text = (
        "Kernel panic - not syncing: first\n"
        "[    5.000000] Kernel panic - not syncing: Fatal exception in interrupt\n"
        "[    5.000001] Call Trace:\n"
        "[    5.000002]  <IRQ>\n"
        "[    5.000003]  e1000_clean+0x4a/0x1f0 [e1000]\n"
        "[    5.000004]  </IRQ>\n"
        "[    5.000005]  <TASK>\n"
        "[    5.000006]  net_rx_action+0x12/0x30\n"
        "[    5.000007]  </TASK>\n"
    )
    report = vmcore.parse_dmesg(text)
    assert report["panic"] == "Kernel panic - not syncing: Fatal exception in interrupt"
    # frames of the interrupt stack and of the task stack both belong to the trace
    assert report["call_trace"] == ["e1000_clean+0x4a/0x1f0 [e1000]", "net_rx_action+0x12/0x30"]


def test_caller_id_and_loglevel_prefixes_are_stripped():
    assert vmcore.strip_prefix("[   52.163745] [  T601] Kernel panic - not syncing: x") == (
        "Kernel panic - not syncing: x"
    )
    assert vmcore.strip_prefix("<0>Kernel panic - not syncing: Oops") == "Kernel panic - not syncing: Oops"


@pytest.mark.parametrize("bad", [None, b"bytes", 42])
def test_parse_dmesg_rejects_non_text(bad):
    with pytest.raises(ValueError, match="^dmesg: expected text"):
        vmcore.parse_dmesg(bad)


def test_parse_dmesg_of_empty_text():
    assert vmcore.parse_dmesg("") == {"panic": None, "task": None, "pid": None, "cpu": None,
                                      "call_trace": [], "dmesg_tail": [], "kernel": None}


# ------------------------------------------------------------------ crash


def test_crash_sys_fields_and_panic_without_quotes():
    fields = vmcore.parse_crash_sys(fixture_text("crash-sys-debian12.txt"))
    assert fields["PANIC"] == "Kernel panic - not syncing: sysrq triggered crash"
    assert fields["RELEASE"] == "6.1.0-26-amd64"
    assert fields["LOAD AVERAGE"] == "0.21, 0.07, 0.02"
    assert fields["KERNEL"] == "/usr/lib/debug/boot/vmlinux-6.1.0-26-amd64"


def test_crash_sys_ignores_noise_and_rejects_non_text():
    assert vmcore.parse_crash_sys("please wait... (gathering task table data)\n\n") == {}
    with pytest.raises(ValueError, match="^sys: "):
        vmcore.parse_crash_sys(None)


def test_crash_script_redirects_each_command():
    script = vmcore.crash_script("/tmp/kdump-formula-crash-x1")
    assert script.splitlines() == [
        "set scroll off",
        "sys > /tmp/kdump-formula-crash-x1/sys.out",
        "bt > /tmp/kdump-formula-crash-x1/bt.out",
        "log > /tmp/kdump-formula-crash-x1/log.out",
        "quit",
    ]


@pytest.mark.parametrize("bad", ["relative/dir", "/tmp/a b", "/tmp/x;rm", "/tmp/$(id)"])
def test_crash_script_refuses_unsafe_directories(bad):
    with pytest.raises(ValueError, match="^outdir: "):
        vmcore.crash_script(bad)


def test_debug_vmlinux_candidates():
    assert vmcore.debug_vmlinux_candidates("6.1.0-26-amd64") == [
        "/usr/lib/debug/boot/vmlinux-6.1.0-26-amd64",
        "/usr/lib/debug/lib/modules/6.1.0-26-amd64/vmlinux",
    ]
    assert vmcore.debug_vmlinux_candidates(None) == []
    assert vmcore.debug_vmlinux_candidates("../../etc") == []
