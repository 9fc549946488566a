"""kdump.clean is the exact inverse of applying kdump, proven on a fake Debian root.

Real Salt loaders apply the real formula (``state.apply kdump``, then ``state.apply
kdump.clean``) with ``kdump_root`` pointing at a fresh Debian 12 host that has kdump-tools
installed (its ``/etc/default/kdump-tools`` and ``grub.d/kdump-tools.cfg`` as the package ships
them). Salt's ``pkg``, ``service`` and ``sysctl`` modules, which act outside ``kdump_root``, are
test doubles (``tests/doubles``, chosen with the minion's ``providers``) that keep
their state in files under the same root, and ``update-grub`` is a recording script. So every
part of apply and clean runs for real against files; only the kernel is not there.
"""

import json
import pathlib

import pytest
from saltfactories.utils.functional import Loaders

REPO = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "bootloader"
DOUBLES = REPO / "tests" / "doubles"

# /etc/default/kdump-tools as kdump-tools 1:1.8.1 ships it (abridged: the assignments).
KDUMP_TOOLS_DEFAULT = """# kdump-tools configuration
USE_KDUMP=1
KDUMP_SYSCTL="kernel.panic_on_oops=1"
#KDUMP_KERNEL=/var/lib/kdump/vmlinuz
KDUMP_COREDIR="/var/crash"
#MAKEDUMP_ARGS="-c -d 31"
"""
# Values no real host has, so that a double that did not load (Salt would fall back to its
# own sysctl module, which acts on this host's kernel) is caught before anything is applied.
RUNNING_SYSCTLS = {"kernel.panic": "7", "kernel.panic_on_oops": "1"}
PILLAR = {
    "kdump": {
        "crashkernel": {"value": "256M"},
        "settings": {"collector": {"dump_level": 20}},
        "sysctl": {"kernel.panic": 30, "kernel.panic_on_oops": 0},
    }
}


@pytest.fixture(params=["package file", "no config file"])
def debian_root(request, fake_root):
    files = {
        "etc/default/grub": (FIXTURES / "default_grub.debian12").read_text(),
        "etc/default/grub.d/kdump-tools.cfg": (FIXTURES / "kdump-tools.cfg").read_text(),
        "etc/default/kdump-tools": KDUMP_TOOLS_DEFAULT,
        "boot/grub/grub.cfg": "menuentry 'Debian GNU/Linux' {\n}\n",
        "proc/cmdline": "BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=0f0e ro quiet\n",
        "proc/meminfo": "MemTotal:        2017196 kB\n",
        "proc/sys.json": json.dumps(RUNNING_SYSCTLS),
        "sys/kernel/kexec_crash_size": "0\n",
        "sys/kernel/kexec_crash_loaded": "0\n",
        "var/lib/kdumptest/pkgs.json": json.dumps(
            {"kdump-tools": "1:1.8.1", "kexec-tools": "1:2.0.25", "makedumpfile": "1:1.7.2"}
        ),
    }
    if request.param == "no config file":
        del files["etc/default/kdump-tools"]
    for path, text in files.items():
        (fake_root / path).parent.mkdir(parents=True, exist_ok=True)
        (fake_root / path).write_text(text)
    (fake_root / "var/crash").mkdir(parents=True)
    return fake_root


@pytest.fixture
def update_grub(fake_bin):
    calls = fake_bin / "update-grub.log"
    script = fake_bin / "update-grub"
    script.write_text(f'#!/bin/sh\necho "update-grub $*" >> {calls}\n')
    script.chmod(0o755)
    return calls


@pytest.fixture
def loaders(salt_factories, debian_root):
    factory = salt_factories.salt_minion_daemon(
        "kdump-clean-inverse",
        overrides={
            "file_client": "local",
            "file_roots": {"base": [str(REPO / "salt")]},
            "module_dirs": [str(REPO / "_modules"), str(DOUBLES)],
            "states_dirs": [str(REPO / "_states")],
            "utils_dirs": [str(REPO / "_utils")],
            "grains": {"os_family": "Debian", "os": "Debian", "osrelease": "12"},
            "providers": {"pkg": "kdumptest_pkg", "service": "kdumptest_service", "sysctl": "kdumptest_sysctl"},
            "kdump_root": str(debian_root),
        },
    )
    made = Loaders(factory.config.copy())
    yield made
    made.reset_state()


def snapshot(root):
    """Every file of the root but the test doubles' own state and the fake kernel files."""
    return {
        str(path.relative_to(root)): path.read_text()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not str(path.relative_to(root)).startswith(("var/lib/kdumptest", "proc", "sys", "var/cache"))
    }


def assert_doubles(loaders):
    """Salt's pkg, service and sysctl are the doubles (they read the fake root), or stop."""
    root = pathlib.Path(loaders.opts["kdump_root"])
    running = json.loads((root / "proc/sys.json").read_text())
    assert loaders.modules.sysctl.get("kernel.panic") == running["kernel.panic"]
    assert "kdump-tools" in loaders.modules.pkg.list_pkgs()
    assert loaders.modules.service.offline() is False


def apply(loaders, sls):
    loaders.reload_all()
    assert_doubles(loaders)
    ret = loaders.modules.state.apply(sls, pillar=PILLAR).raw
    assert isinstance(ret, dict), ret
    failed = {state["__id__"]: state["comment"] for state in ret.values() if state["result"] is False}
    assert failed == {}, failed
    return {state["__id__"]: state for state in ret.values()}


def test_apply_then_clean_leaves_the_host_as_before(loaders, debian_root, update_grub):
    before = snapshot(debian_root)

    applied = apply(loaders, "kdump")
    assert applied["kdump-ready"]["result"] is True  # reboot pending under warn
    assert applied["kdump-ready"]["comment"].startswith("reboot pending: ")
    # The formula really changed the host.
    changed = snapshot(debian_root)
    assert changed["etc/default/grub.d/zz-kdump-formula.cfg"]
    assert "crashkernel" not in changed["etc/default/grub.d/kdump-tools.cfg"]
    assert changed["etc/default/kdump-tools"] != before.get("etc/default/kdump-tools")
    assert changed["etc/sysctl.d/zz-kdump-formula.conf"]
    assert changed["etc/systemd/system/kdump-tools.service.d/zz-kdump-formula-sysctl.conf"]
    assert json.loads((debian_root / "proc/sys.json").read_text()) == {
        "kernel.panic": "30", "kernel.panic_on_oops": "0"
    }
    services = json.loads((debian_root / "var/lib/kdumptest/services.json").read_text())
    assert services["kdump-tools"] == {"enabled": True, "running": True}

    cleaned = apply(loaders, "kdump.clean")
    assert cleaned["kdump-clean-crashkernel"]["changes"]["configured"] == {
        "old": "256M", "new": "384M-:128M"
    }
    # Files byte for byte as before apply; running values and services as before.
    assert snapshot(debian_root) == before
    assert json.loads((debian_root / "proc/sys.json").read_text()) == RUNNING_SYSCTLS
    services = json.loads((debian_root / "var/lib/kdumptest/services.json").read_text())
    assert services["kdump-tools"] == {"enabled": False, "running": False}
    assert update_grub.read_text().count("update-grub") == 2

    # A second clean has nothing left to do.
    again = apply(loaders, "kdump.clean")
    assert {state_id: state["changes"] for state_id, state in again.items() if state["changes"]} == {}
