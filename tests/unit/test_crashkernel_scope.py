"""_modules/crashkernel.py: scope all|default and ,high + ,low pairs on every backend."""

import pathlib
from unittest.mock import MagicMock, patch

import pytest
from salt.exceptions import SaltInvocationError

from _modules import crashkernel
from kdumplib import bootloader
from tests.fakeroot import put

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "bootloader"
PAIR = "512M,high 256M,low"
M = 1 << 20


@pytest.fixture
def run_all():
    return MagicMock(return_value={"retcode": 0, "stdout": "", "stderr": ""})


@pytest.fixture
def configure_loader_modules(root, run_all):
    put(root, "/proc/meminfo", "MemTotal:        8388608 kB\n")
    return {
        crashkernel: {
            "__opts__": {"kdump_root": str(root)},
            "__grains__": {"os": "RedHat", "os_family": "RedHat", "osrelease": "9.4"},
            "__salt__": {"cmd.run_all": run_all},
        }
    }


def only(tool):
    return lambda name: f"/usr/sbin/{tool}" if name == tool else None


# ---------------------------------------------------------------- arguments


def test_set_pair_spellings_and_argument_errors():
    assert crashkernel.spec("512m,high", low="256M") == PAIR
    assert crashkernel.spec("256M,low 512M,high") == PAIR
    assert crashkernel.resolve(PAIR, 8 << 30) == 512 * M  # what kexec_crash_size shows
    with pytest.raises(SaltInvocationError, match=r"^value: .*goes only with a value X,high"):
        crashkernel.set("512M", low="256M", test=True)
    with pytest.raises(SaltInvocationError, match=r"^scope: 'every' must be one of all, default"):
        crashkernel.set("256M", scope="every", test=True)
    with pytest.raises(SaltInvocationError, match=r"^scope: all contradicts default_entry_only"):
        crashkernel.set("256M", scope="all", default_entry_only=True, test=True)


def test_get_reads_a_running_pair_as_one_value(root):
    put(root, "/boot/grub/grub.conf", (FIXTURES / "grub.conf").read_text())
    put(root, "/proc/cmdline", "ro crashkernel=512M,high crashkernel=256m,low quiet\n")
    put(root, "/sys/kernel/kexec_crash_size", str(512 * M))
    crashkernel.set(PAIR)
    state = crashkernel.get()
    assert state["running"] == "512M,high 256m,low" and state["configured"] == PAIR
    assert state["reboot_pending"] is False and state["reserved_bytes"] == 512 * M


# ---------------------------------------------------------------- grub-legacy


@pytest.mark.parametrize("scope, entries", [("all", [PAIR] * 3), ("default", [PAIR, None, None])])
def test_grub_legacy_scope(root, scope, entries):
    put(root, "/boot/grub/grub.conf", (FIXTURES / "grub.conf").read_text())
    (root / "boot/grub/grub.conf").write_text((root / "boot/grub/grub.conf").read_text().replace(
        "crashkernel=128M@16M", ""))
    predicted = crashkernel.set("512M,high", low="256M", scope=scope, test=True)
    assert predicted["files"] == ["/boot/grub/grub.conf"] and predicted["new"] == PAIR
    assert crashkernel.set("512M,high", low="256M", scope=scope) == predicted
    text = (root / "boot/grub/grub.conf").read_text()
    assert [v for _, v in bootloader.grub_legacy_entries(text)] == entries
    assert crashkernel.set(PAIR, scope=scope)["changed"] is False


# ---------------------------------------------------------------- grubby


def grubby_host(root, default="b-5.14.0"):
    for name in ("a-5.14.0", "b-5.14.0"):
        put(root, f"/boot/loader/entries/{name}.conf", (FIXTURES / "bls.rhel9.conf").read_text())
    put(root, "/boot/grub2/grubenv", f"# GRUB Environment Block\nsaved_entry={default}\n")


def fake_grubby(root, seen):
    """A cmd.run_all that edits the BLS entries as grubby would (ALL or the saved default)."""

    def run(argv, python_shell=False):
        assert python_shell is False and argv[0] == "grubby"
        seen.append(argv)
        which = argv[1].split("=", 1)[1]
        for entry in (root / "boot/loader/entries").glob("*.conf"):
            if which == "DEFAULT" and entry.name != "b-5.14.0.conf":
                continue
            value = argv[2].split("=", 2)[2] if argv[2].startswith("--args=") else None
            entry.write_text(bootloader.bls_set(entry.read_text(), value))
        return {"retcode": 0, "stdout": "", "stderr": ""}

    return run


@pytest.mark.parametrize("scope, flag, other", [("all", "ALL", ["256M"]), ("default", "DEFAULT", None)])
def test_grubby_scope_is_update_kernel_all_or_default(root, run_all, scope, flag, other):
    grubby_host(root)
    seen = []
    run_all.side_effect = fake_grubby(root, seen)
    with patch("salt.utils.path.which", only("grubby")):
        predicted = crashkernel.set("256M", scope=scope, test=True)
        assert predicted["commands"] == [["grubby", f"--update-kernel={flag}", "--args=crashkernel=256M"]]
        assert seen == []
        assert crashkernel.set("256M", scope=scope) == predicted
        assert crashkernel.get()["configured"] == "256M"
        kept = bootloader.cmdline_values(bootloader.bls_options((root / "boot/loader/entries/a-5.14.0.conf").read_text()))
        assert kept == (other or ["1G-4G:192M,4G-64G:256M,64G-:512M"])
        assert crashkernel.set("256M", scope=scope)["changed"] is False
        assert len(seen) == 1


def test_grubby_pair_is_written_into_the_entries_directly(root, run_all):
    grubby_host(root)
    with patch("salt.utils.path.which", only("grubby")):
        predicted = crashkernel.set(PAIR, scope="default", test=True)
        assert predicted["commands"] == [] and predicted["files"] == ["/boot/loader/entries/b-5.14.0.conf"]
        assert crashkernel.set(PAIR, scope="default") == predicted
        assert crashkernel.get()["configured"] == PAIR
        assert crashkernel.set(PAIR, scope="default")["changed"] is False
        done = crashkernel.set(PAIR)  # now every entry
        assert done["files"] == ["/boot/loader/entries/a-5.14.0.conf"]
        # back to one value: the entries hold two tokens, so grubby (one per name) is not used
        single = crashkernel.set("256M")
        assert single["commands"] == [] and len(single["files"]) == 2
        assert crashkernel.get()["configured"] == "256M"
    assert run_all.call_count == 0


def test_grubby_pair_with_rhel8_kernelopts_is_refused_naming_low(root, run_all):
    put(root, "/boot/loader/entries/x-4.18.0.conf", (FIXTURES / "bls.rhel8.conf").read_text())
    put(root, "/boot/grub2/grubenv", (FIXTURES / "grubenv.rhel8").read_text())
    with patch("salt.utils.path.which", only("grubby")):
        refused = crashkernel.refuses("512M,high", low="256M")
        assert refused["key"] == "low" and "$kernelopts" in refused["reason"]
        assert crashkernel.refuses("256M", scope="default") is None
        with pytest.raises(SaltInvocationError, match=r"^low: the grubby boot loader"):
            crashkernel.set(PAIR)
    assert run_all.call_count == 0


# ---------------------------------------------------------------- grub2-default

DEFAULT_GRUB = 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n'


@pytest.mark.parametrize("scope", ["all", "default"])
def test_grub2_default_scope_and_pair(root, run_all, scope):
    put(root, "/etc/default/grub", DEFAULT_GRUB)
    put(root, "/etc/default/grub.d/kdump-tools.cfg", (FIXTURES / "kdump-tools.cfg").read_text())
    with patch("salt.utils.path.which", only("update-grub")):
        predicted = crashkernel.set("512M,high", low="256M", scope=scope, test=True)
        assert (root / "etc/default/grub").read_text() == DEFAULT_GRUB
        assert crashkernel.set("512M,high", low="256M", scope=scope) == predicted
        assert crashkernel.get()["configured"] == PAIR
        files = [(p, (root / p.lstrip("/")).read_text()) for p in
                 ["/etc/default/grub", "/etc/default/grub.d/kdump-tools.cfg", bootloader.GUARD_PATH]]
        recovery = bootloader.cmdline_values(bootloader.default_grub_recovery(files))
        assert recovery == (PAIR.split() if scope == "all" else [])
        variable = bootloader.SCOPE_VARIABLE[scope]
        assert f'{variable}="' in (root / "etc/default/grub").read_text()
        assert bootloader.guard_value(files[2][1]) == (PAIR if scope == "default" else None)
        assert crashkernel.set(PAIR, scope=scope)["changed"] is False
        assert run_all.call_count == 1


def test_grub2_default_switching_scope_moves_the_value_and_the_guard(root, run_all):
    put(root, "/etc/default/grub", DEFAULT_GRUB)
    put(root, "/etc/default/grub.d/kdump-tools.cfg", (FIXTURES / "kdump-tools.cfg").read_text())
    with patch("salt.utils.path.which", only("update-grub")):
        crashkernel.set("256M", scope="default")
        moved = crashkernel.set("256M", scope="all")
        assert moved["changed"] is True
        assert sorted(moved["files"]) == sorted(["/etc/default/grub", bootloader.GUARD_PATH])
        assert (root / "etc/default/grub").read_text() == (
            'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="crashkernel=256M"\n'
        )
        assert (root / bootloader.GUARD_PATH.lstrip("/")).read_text() == bootloader.GUARD_TEXT
        restored = crashkernel.remove(restore=True)
        assert restored["new"] == "384M-:128M"  # the package's own value is back
        assert not (root / bootloader.GUARD_PATH.lstrip("/")).exists()
