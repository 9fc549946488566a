"""_modules/crashkernel.py with a mocked loader: errors, recommend, backends, set/remove."""

import pathlib
import shutil
from unittest.mock import MagicMock, patch

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from _modules import crashkernel
from kdumplib import bootloader
from tests.fakeroot import put

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "bootloader"
G = 1 << 30


@pytest.fixture
def pillar():
    return {}


@pytest.fixture
def run_all():
    return MagicMock(return_value={"retcode": 0, "stdout": "", "stderr": ""})


def no_pillar_read(*args, **kwargs):
    raise AssertionError(f"crashkernel read the pillar: pillar.get{args}")


@pytest.fixture
def configure_loader_modules(root, pillar, run_all):
    put(root, "/proc/meminfo", "MemTotal:        4194304 kB\nMemFree: 1 kB\n")
    return {
        crashkernel: {
            "__opts__": {"kdump_root": str(root)},
            "__grains__": {"os": "Debian", "os_family": "Debian", "osrelease": "12", "mem_total": 4096},
            "__salt__": {
                "cmd.run_all": run_all,
                # The module reads no pillar (the formula passes values in): any read fails.
                "pillar.get": no_pillar_read,
            },
        }
    }


def no_tools(name):
    return None


# ---------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "value, reason", [("4G-1G:128M", "start >= end"), ("128X", "unknown suffix"), ("0", "zero size")]
)
def test_bad_value_is_invocation_error_naming_argument_value_and_reason(value, reason):
    for call in (crashkernel.parse, crashkernel.set, lambda v: crashkernel.resolve(v, G)):
        with pytest.raises(SaltInvocationError) as info:
            call(value)
        message = str(info.value)
        assert message.startswith("value: ") and repr(value) in message and reason in message


def test_resolve_bad_mem_bytes():
    with pytest.raises(SaltInvocationError, match=r"^mem_bytes: 'lots' is not a byte count"):
        crashkernel.resolve("128M", "lots")


def test_ram_is_read_from_meminfo_under_the_root_only(root):
    """One source of RAM: /proc/meminfo under kdump_root; the grain (4096 MiB here) is never
    read, so a different MemTotal shows through and a missing one is an error."""
    assert crashkernel.mem_bytes() == 4 * G
    assert crashkernel.resolve("1G-4G:192M,4G-:256M") == 256 << 20
    put(root, "/proc/meminfo", "MemTotal:        3915776 kB\nMemFree: 1 kB\n")
    assert crashkernel.mem_bytes() == 3915776 * 1024
    assert crashkernel.resolve("1G-4G:192M,4G-:256M") == 192 << 20
    (root / "proc/meminfo").unlink()
    with pytest.raises(CommandExecutionError, match="cannot tell this minion's RAM"):
        crashkernel.mem_bytes()


# ---------------------------------------------------------------- recommend


def test_recommend_distribution_default():
    assert crashkernel.recommend() == {
        "value": "384M-:128M",
        "source": "default for Debian 12 (kdump-tools)",
        "reserved_bytes": 128 << 20,
    }


@pytest.mark.parametrize(
    "grains, default",
    [
        ({"os": "CentOS", "os_family": "RedHat", "osrelease": "7.9"}, "auto"),
        ({"os": "RedHat", "os_family": "RedHat", "osrelease": "10.0"}, "2G-64G:256M,64G-:512M"),
        ({"os": "Ubuntu", "os_family": "Debian", "osrelease": "24.10"}, "2G-4G:320M"),
    ],
)
def test_recommend_falls_back_where_the_default_reserves_nothing(root, grains, default):
    """On a 1 GiB host these defaults reserve 0 bytes: the recommendation is the measured
    128M minimum instead, and the source says why."""
    put(root, "/proc/meminfo", "MemTotal:        1017196 kB\n")
    with patch.dict(crashkernel.__grains__, grains):
        found = crashkernel.recommend()
    assert found["value"] == "128M" and found["reserved_bytes"] == 128 << 20
    assert found["source"].startswith(f"default for {grains['os']} {grains['osrelease']} (")
    assert f"crashkernel={default}" in found["source"]
    assert "reserves nothing on 1.0 GiB of RAM; 128M instead" in found["source"]
    # With enough RAM the distribution default stands, unchanged.
    put(root, "/proc/meminfo", "MemTotal:        8388608 kB\n")
    with patch.dict(crashkernel.__grains__, grains):
        assert "128M instead" not in crashkernel.recommend()["source"]


def test_recommend_given_value_wins_unless_auto(pillar):
    """The module reads no pillar: the caller passes kdump:crashkernel:value."""
    pillar["kdump:crashkernel:value"] = "2G"
    assert crashkernel.recommend("1024M") == {
        "value": "1G",
        "source": "given value",
        "reserved_bytes": G,
    }
    assert crashkernel.recommend("auto")["source"].startswith("default for Debian 12")
    assert crashkernel.recommend()["source"].startswith("default for Debian 12")


def test_recommend_bad_value_names_the_argument():
    with pytest.raises(SaltInvocationError, match=r"^value: '2G-1G:1M': .*start >= end"):
        crashkernel.recommend("2G-1G:1M")


# ---------------------------------------------------------------- backend detection


def test_backend_none_explains(root):
    with patch("salt.utils.path.which", no_tools):
        found = crashkernel.backend()
    assert found["name"] is None and "/etc/default/grub" in found["reason"]
    with patch("salt.utils.path.which", no_tools), pytest.raises(CommandExecutionError, match="no supported boot loader"):
        crashkernel.set("256M")


def test_backend_grub_legacy_only_without_grub2(root):
    put(root, "/boot/grub/grub.conf", (FIXTURES / "grub.conf").read_text())
    with patch("salt.utils.path.which", no_tools):
        assert crashkernel.backend()["name"] == "grub-legacy"
        put(root, "/boot/grub/grub.cfg", "")
        put(root, "/etc/default/grub", 'GRUB_CMDLINE_LINUX=""\n')
        assert crashkernel.backend()["name"] == "grub2-default"


def test_backend_grubby_needs_binary_and_entries(root):
    put(root, "/etc/default/grub", 'GRUB_CMDLINE_LINUX="ro"\n')
    put(root, "/boot/loader/entries/abc-5.14.0.conf", (FIXTURES / "bls.rhel9.conf").read_text())
    with patch("salt.utils.path.which", no_tools):
        assert crashkernel.backend()["name"] == "grub2-default"
    with patch("salt.utils.path.which", lambda name: "/usr/sbin/grubby" if name == "grubby" else None):
        found = crashkernel.backend()
    assert found == {
        "name": "grubby",
        "files": ["/boot/loader/entries/abc-5.14.0.conf"],
        "reason": "grubby at /usr/sbin/grubby and BLS entries in /boot/loader/entries",
    }


# ---------------------------------------------------------------- grubby


def fake_grubby(root):
    """A cmd.run_all that edits the BLS entries as grubby would."""

    def run(argv, python_shell=False):
        assert python_shell is False and argv[:2] == ["grubby", "--update-kernel=ALL"]
        for entry in (root / "boot/loader/entries").glob("*.conf"):
            lines = entry.read_text().splitlines(keepends=True)
            for index, line in enumerate(lines):
                if line.startswith("options "):
                    body = bootloader.cmdline_remove(line[len("options "):].rstrip("\n"))
                    if argv[2].startswith("--args="):
                        body = bootloader.cmdline_set(body, argv[2].split("=", 2)[2])
                    lines[index] = "options " + body + "\n"
            entry.write_text("".join(lines))
        return {"retcode": 0, "stdout": "", "stderr": ""}

    return run


def test_grubby_set_runs_once_and_verifies(root, run_all):
    put(root, "/boot/loader/entries/abc-5.14.0.conf", (FIXTURES / "bls.rhel9.conf").read_text())
    put(root, "/proc/cmdline", "BOOT_IMAGE=(hd0,msdos1)/vmlinuz ro crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M\n")
    run_all.side_effect = fake_grubby(root)
    with patch("salt.utils.path.which", lambda name: "/usr/sbin/grubby" if name == "grubby" else None):
        predicted = crashkernel.set("512M", test=True)
        assert run_all.call_count == 0
        assert predicted["changed"] and predicted["commands"] == [
            ["grubby", "--update-kernel=ALL", "--args=crashkernel=512M"]
        ]
        done = crashkernel.set("512M")
        assert done == predicted
        state = crashkernel.get()
        assert state["configured"] == "512M" and state["reboot_pending"] is True
        assert crashkernel.set("512M")["changed"] is False
        assert run_all.call_count == 1
        removed = crashkernel.remove()
        assert removed["commands"] == [["grubby", "--update-kernel=ALL", "--remove-args=crashkernel"]]
        assert crashkernel.get()["configured"] is None


def test_grubby_failure_is_command_error_with_stderr(root, run_all):
    put(root, "/boot/loader/entries/abc-5.14.0.conf", (FIXTURES / "bls.rhel9.conf").read_text())
    run_all.return_value = {"retcode": 1, "stdout": "", "stderr": "grubby: bad entry"}
    with patch("salt.utils.path.which", lambda name: "/usr/sbin/grubby" if name == "grubby" else None):
        with pytest.raises(CommandExecutionError, match="grubby --update-kernel=ALL --args=crashkernel=256M .*grubby: bad entry"):
            crashkernel.set("256M")


def test_grubby_rhel8_kernelopts_configured_from_grubenv(root):
    put(root, "/boot/loader/entries/0a1b2c3d4e5f40718293a4b5c6d7e8f9-4.18.0-553.el8_10.x86_64.conf",
        (FIXTURES / "bls.rhel8.conf").read_text())
    put(root, "/boot/grub2/grubenv", (FIXTURES / "grubenv.rhel8").read_text())
    with patch("salt.utils.path.which", lambda name: "/usr/sbin/grubby" if name == "grubby" else None):
        assert crashkernel.get()["configured"] == "auto"
        predicted = crashkernel.set("1G-4G:192M,4G-64G:256M,64G-:512M", test=True)
    assert "/boot/grub2/grubenv" in predicted["files"] and predicted["old"] == "auto"


# ---------------------------------------------------------------- grub2-default


def test_grub2_mkconfig_used_when_no_update_grub(root, run_all):
    put(root, "/etc/default/grub", (FIXTURES / "default_grub.debian12").read_text())
    put(root, "/boot/grub2/grub.cfg", "")
    with patch("salt.utils.path.which", lambda name: "/usr/sbin/grub2-mkconfig" if name == "grub2-mkconfig" else None):
        result = crashkernel.set("192M")
    assert result["commands"] == [["grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"]]
    run_all.assert_called_once_with(["grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"], python_shell=False)
    assert 'GRUB_CMDLINE_LINUX="crashkernel=192M"' in (root / "etc/default/grub").read_text()
    assert (root / "etc/default/grub.kdump-formula.bak").exists()


GRUB_CFG_ENTRY = """menuentry 'Debian GNU/Linux' {{
	linux	/boot/vmlinuz-6.1.0-18-amd64 root=UUID=0a1b ro {args}
	initrd	/boot/initrd.img-6.1.0-18-amd64
}}
"""


def test_grub2_defaults_right_but_grub_cfg_never_regenerated_runs_update_grub(root, run_all):
    """The defaults already give the value but grub.cfg was not regenerated (an update-grub
    that failed or was interrupted, a drop-in written without it): the next boot would go
    without the reservation, so update-grub runs again, and only then is nothing left to do."""
    put(root, "/etc/default/grub", 'GRUB_CMDLINE_LINUX="console=ttyS0"\n')
    put(root, "/boot/grub/grub.cfg", GRUB_CFG_ENTRY.format(args="console=ttyS0"))
    with patch("salt.utils.path.which", lambda name: "/usr/sbin/update-grub" if name == "update-grub" else None):
        crashkernel.set("192M")  # the fake update-grub leaves grub.cfg as it was
        predicted = crashkernel.set("192M", test=True)
        assert predicted["changed"] is True and predicted["files"] == [], predicted
        assert predicted["commands"] == [["update-grub"]]
        # regenerated, as update-grub would: nothing left to do
        put(root, "/boot/grub/grub.cfg", GRUB_CFG_ENTRY.format(args="console=ttyS0 crashkernel=192M"))
        assert crashkernel.set("192M", test=True)["changed"] is False


def test_grub2_test_mode_writes_and_runs_nothing(root, run_all):
    original = (FIXTURES / "default_grub.debian12").read_text()
    put(root, "/etc/default/grub", original)
    put(root, "/etc/default/grub.d/kdump-tools.cfg", (FIXTURES / "kdump-tools.cfg").read_text())
    with patch("salt.utils.path.which", lambda name: "/usr/sbin/update-grub" if name == "update-grub" else None):
        result = crashkernel.set("256M", test=True)
    assert result == {
        "backend": "grub2-default",
        "old": "384M-:128M",
        "new": "256M",
        "changed": True,
        "files": ["/etc/default/grub", "/etc/default/grub.d/kdump-tools.cfg", bootloader.GUARD_PATH],
        "commands": [["update-grub"]],
    }
    assert run_all.call_count == 0
    assert (root / "etc/default/grub").read_text() == original
    assert not (root / bootloader.GUARD_PATH.lstrip("/")).exists()


def test_grub2_remove_restore_is_the_exact_inverse_of_set(root, run_all):
    """set, set again (a second value), then remove(restore=True): every defaults file byte
    for byte as before, the guard gone, the package's crashkernel= the next boot's again."""
    before = {
        "etc/default/grub": (FIXTURES / "default_grub.debian12").read_text(),
        "etc/default/grub.d/kdump-tools.cfg": (FIXTURES / "kdump-tools.cfg").read_text(),
        "etc/default/grub.d/50-cloud.cfg": 'GRUB_TIMEOUT=1\n',
    }
    for path, text in before.items():
        put(root, path, text)
    with patch("salt.utils.path.which", lambda name: "/usr/sbin/update-grub" if name == "update-grub" else None):
        crashkernel.set("256M")
        crashkernel.set("512M")
        assert crashkernel.get()["configured"] == "512M"
        predicted = crashkernel.remove(restore=True, test=True)
        assert predicted["new"] == "384M-:128M" and predicted["changed"]
        assert predicted["files"] == sorted(
            ["/etc/default/grub", "/etc/default/grub.d/kdump-tools.cfg", bootloader.GUARD_PATH]
        )
        result = crashkernel.remove(restore=True)
        assert result["new"] == "384M-:128M"
        assert crashkernel.get()["configured"] == "384M-:128M"
        assert crashkernel.remove(restore=True)["changed"] is False
    after = {
        str(path.relative_to(root)): path.read_text()
        for path in (root / "etc/default").rglob("*") if path.is_file()
    }
    assert after == before
    assert run_all.call_args_list[-1].args[0] == ["update-grub"]


def test_grub2_remove_restore_keeps_someone_elses_later_edit(root, run_all):
    """A file edited by someone else after the formula is not rolled back: only
    crashkernel= is stripped from /etc/default/grub, other files are left as they are."""
    put(root, "/etc/default/grub", (FIXTURES / "default_grub.debian12").read_text())
    with patch("salt.utils.path.which", lambda name: "/usr/sbin/update-grub" if name == "update-grub" else None):
        crashkernel.set("256M")
        grub = root / "etc/default/grub"
        grub.write_text(grub.read_text() + "GRUB_TIMEOUT=9\n")
        crashkernel.remove(restore=True)
    assert grub.read_text().endswith("GRUB_TIMEOUT=9\n")
    assert "crashkernel" not in grub.read_text()


def test_grub2_unreadable_assignment_refuses_before_writing(root, run_all):
    put(root, "/etc/default/grub", 'GRUB_CMDLINE_LINUX="ro\n  quiet"\n')
    with patch("salt.utils.path.which", no_tools), pytest.raises(CommandExecutionError, match="not a one-line"):
        crashkernel.set("256M")
    assert run_all.call_count == 0


def test_grub_legacy_default_entry_only(root):
    put(root, "/boot/grub/grub.conf", (FIXTURES / "grub.conf").read_text().replace("default=0", "default=2"))
    with patch("salt.utils.path.which", no_tools):
        result = crashkernel.set("256M", default_entry_only=True)
        assert result["files"] == ["/boot/grub/grub.conf"] and result["commands"] == []
        state = crashkernel.get()
    assert state["configured"] == "256M"
    assert [s["value"] for s in state["sources"]] == ["128M@16M", "256M"]


# ---------------------------------------------------------------- adding a boot loader


class KernelCmdline(crashkernel.Backend):
    """A boot loader added as docs/architecture.md says ("How to add a boot loader"): one
    class, one table entry. systemd-boot/kernel-install style: arguments in /etc/kernel/cmdline."""

    name = "kernel-cmdline"
    looks_for = "/etc/kernel/cmdline"

    def detect(self):
        if crashkernel._exists(self.looks_for):
            return {"files": [self.looks_for], "reason": f"{self.looks_for} exists"}
        return None

    def read(self):
        value = bootloader.cmdline_last(crashkernel._read(self.looks_for) or "")
        return value, [{"file": self.looks_for, "value": value}] if value else []

    def plan(self, value, scope="all", restore=False):
        text = crashkernel._read(self.looks_for) or ""
        args = text.rstrip("\n")
        new = (bootloader.cmdline_set(args, value) if value else bootloader.cmdline_remove(args)) + "\n"
        if new == text:
            return {"changes": {}, "commands": [], "new": value}
        return {"changes": {self.looks_for: new}, "commands": [["kernel-install", "add-all"]], "new": value}

    def verify(self, value, scope="all"):
        if self.read()[0] != value:
            raise CommandExecutionError("kernel-install: /etc/kernel/cmdline does not give the value")


def test_an_added_backend_is_detected_read_planned_written_and_verified(root, run_all):
    put(root, "/etc/kernel/cmdline", "root=/dev/vda1 ro quiet\n")
    put(root, "/proc/cmdline", "root=/dev/vda1 ro quiet\n")
    with patch.object(crashkernel, "BACKENDS", (KernelCmdline(),) + crashkernel.BACKENDS), patch(
        "salt.utils.path.which", no_tools
    ):
        assert crashkernel.backend() == {
            "name": "kernel-cmdline",
            "files": ["/etc/kernel/cmdline"],
            "reason": "/etc/kernel/cmdline exists",
        }
        predicted = crashkernel.set("256M", test=True)
        assert predicted == {
            "backend": "kernel-cmdline",
            "old": None,
            "new": "256M",
            "changed": True,
            "files": ["/etc/kernel/cmdline"],
            "commands": [["kernel-install", "add-all"]],
        }
        assert run_all.call_count == 0
        assert crashkernel.set("256M") == predicted
        run_all.assert_called_once_with(["kernel-install", "add-all"], python_shell=False)
        assert (root / "etc/kernel/cmdline").read_text() == "root=/dev/vda1 ro quiet crashkernel=256M\n"
        assert (root / "etc/kernel/cmdline.kdump-formula.orig").read_text() == "root=/dev/vda1 ro quiet\n"
        state = crashkernel.get()
        assert state["backend"] == "kernel-cmdline" and state["configured"] == "256M"
        assert state["sources"] == [{"file": "/etc/kernel/cmdline", "value": "256M"}]
        assert state["reboot_pending"] is True
        assert crashkernel.set("256M")["changed"] is False
        assert crashkernel.remove()["old"] == "256M"
        assert (root / "etc/kernel/cmdline").read_text() == "root=/dev/vda1 ro quiet\n"
        (root / "etc/kernel/cmdline").unlink()
        assert "/etc/kernel/cmdline" in crashkernel.backend()["reason"]


def test_an_added_backend_that_fails_its_verify_is_an_error(root, run_all):
    put(root, "/etc/kernel/cmdline", "ro\n")

    class Broken(KernelCmdline):
        def write(self, plan, restore=False):
            """Runs the commands but forgets the file."""
            for argv in plan["commands"]:
                crashkernel._run(argv)

    with patch.object(crashkernel, "BACKENDS", (Broken(),) + crashkernel.BACKENDS), patch(
        "salt.utils.path.which", no_tools
    ), pytest.raises(CommandExecutionError, match="does not give the value"):
        crashkernel.set("256M")
    assert run_all.call_count == 1
