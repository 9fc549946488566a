"""Integration tier: a real salt-master and one salt-minion on loopback, set up as
docs/getting-started.md tells a user to: file_roots ``<repo>/salt`` and ``<repo>``,
pillar_roots with a top file handing out pillar.example, ``saltutil.sync_all``, then
``state.apply kdump test=True``.

Nothing touches this host: the minion option ``kdump_root`` points at a fake Debian root
(the host's own os_family), and the LVM tools the dump-volume state asks are small scripts
first on the minion's PATH that describe one volume group, ``rootvg``, with 10 GiB free.
Salt's own states that act outside kdump_root (pkg, sysctl, service) only read under
``test=True``.
"""

import os
import pathlib

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
PILLAR_ROOT = REPO / "tests" / "pillar"
EXAMPLE = yaml.safe_load((REPO / "pillar.example").read_text(encoding="utf-8"))["kdump"]
# The top file adds debian.sls for Debian-family minions (this host): the volume mounted at boot.
DEBIAN = yaml.safe_load((PILLAR_ROOT / "debian.sls").read_text(encoding="utf-8"))["kdump"]
DEBIAN_PKGS = ["kdump-tools", "kexec-tools", "makedumpfile"]

# vgdisplay -c: name:access:status:#:maxlv:curlv:openlv:maxsize:maxpv:curpv:actpv:
#               size kB:extent kB:total extents:allocated extents:free extents:uuid
VGDISPLAY = "  rootvg:r/w:772:-1:0:1:1:-1:0:1:1:20963328:4096:5118:2558:2560:kdumpformulatestvg"


def _script(path, body):
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


@pytest.fixture(scope="module")
def debian_root(tmp_path_factory):
    """A fresh Debian 12 host as the kdump modules see it: GRUB 2, no crashkernel= yet, no
    reservation, no kdump config, 2 GiB of RAM."""
    root = tmp_path_factory.mktemp("debian-root")
    (root / "etc/default/grub.d").mkdir(parents=True)
    (root / "etc/default/grub").write_text(
        'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n'
    )
    (root / "boot/grub").mkdir(parents=True)
    (root / "boot/grub/grub.cfg").write_text("menuentry 'Debian GNU/Linux' {\n}\n")
    (root / "proc").mkdir()
    (root / "proc/cmdline").write_text(
        "BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=0f0e0d0c ro quiet\n"
    )
    (root / "proc/meminfo").write_text("MemTotal:        2017196 kB\n")
    (root / "sys/kernel").mkdir(parents=True)
    (root / "sys/kernel/kexec_crash_size").write_text("0\n")
    (root / "sys/kernel/kexec_crash_loaded").write_text("0\n")
    (root / "var/crash").mkdir(parents=True)
    return root


@pytest.fixture(scope="module")
def lvm_tools(tmp_path_factory):
    """``lvm`` (Salt's lvm module loads when it is on PATH), ``vgdisplay`` and ``lvdisplay``
    answering for a volume group ``rootvg`` without the LV ``crashlv``. Every other LVM
    command fails loudly, so a real change could not pass unnoticed."""
    bindir = tmp_path_factory.mktemp("lvm-bin")
    calls = bindir / "calls.log"
    record = f'echo "$(basename "$0") $*" >> {calls}\n'
    _script(bindir / "lvm", record + 'echo "lvm: not on this test host" >&2\nexit 3\n')
    _script(
        bindir / "vgdisplay",
        record
        + '[ "$2" = rootvg ] || { echo "  Volume group \\"$2\\" not found" >&2; exit 5; }\n'
        + f'echo "{VGDISPLAY}"\n',
    )
    _script(
        bindir / "lvdisplay",
        record + 'echo "  Failed to find logical volume \\"$2\\"" >&2\nexit 5\n',
    )
    for tool in ("lvcreate", "lvresize", "lvremove", "mkfs.ext3", "mke2fs"):
        _script(bindir / tool, record + f'echo "{tool}: must not run under test=True" >&2\nexit 99\n')
    return {"bin": bindir, "calls": calls}


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """The repository as a user deploys it: its salt/ directory and its _modules, _states,
    _utils and _runners (symlinks here, so this development checkout's .venv and .git, tens
    of thousands of files, stay out of the master's file list)."""
    deployed = tmp_path_factory.mktemp("kdump-formula")
    for name in ("salt", "_modules", "_states", "_utils", "_runners", "_output"):
        (deployed / name).symlink_to(REPO / name, target_is_directory=True)
    return deployed


@pytest.fixture(scope="module")
def master(salt_factories, checkout):
    factory = salt_factories.salt_master_daemon(
        "kdump-master",
        overrides={
            # docs/getting-started.md: <repo>/salt for the formula, <repo> for _modules & co.
            "file_roots": {"base": [str(checkout / "salt"), str(checkout)]},
            "pillar_roots": {"base": [str(PILLAR_ROOT)]},
        },
    )
    with factory.started():
        yield factory


@pytest.fixture(scope="module")
def minion(master, debian_root, lvm_tools):
    factory = master.salt_minion_daemon("kdump-minion", overrides={"kdump_root": str(debian_root)})
    # The factories manager hands every daemon its one environ dict: give this minion its own.
    environ = dict(factory.environ)
    environ["PATH"] = f"{lvm_tools['bin']}{os.pathsep}{environ['PATH']}"
    factory.environ = environ
    with factory.started():
        yield factory


@pytest.fixture(scope="module")
def salt_cli(master):
    return master.salt_cli(timeout=180)


@pytest.fixture(scope="module")
def synced(salt_cli, minion):
    ret = salt_cli.run("saltutil.sync_all", minion_tgt=minion.id)
    assert ret.returncode == 0, ret
    return ret.data


def by_id(data):
    """state.apply return keyed by state ID."""
    assert isinstance(data, dict), data
    return {value["__id__"]: value for value in data.values()}


def test_sync_all_delivers_the_project_modules(synced):
    assert {"modules.crashkernel", "modules.kdump", "modules.vmcore"} <= set(synced["modules"])
    assert {"states.crashkernel", "states.kdump", "states.vmcore"} <= set(synced["states"])
    assert any(name.startswith("utils.kdumplib") for name in synced["utils"]), synced["utils"]


def test_minion_gets_the_example_pillar(salt_cli, minion, synced):
    ret = salt_cli.run("pillar.get", "kdump", "unmask=True", minion_tgt=minion.id)
    assert ret.returncode == 0, ret
    assert ret.data == dict(EXAMPLE, volume=dict(EXAMPLE["volume"], **DEBIAN["volume"]))


def test_apply_test_true_predicts_the_seed_setup(salt_cli, minion, synced, debian_root, lvm_tools):
    grub_before = (debian_root / "etc/default/grub").read_text()
    ret = salt_cli.run("state.apply", "kdump", "test=True", minion_tgt=minion.id)
    states = by_id(ret.data)

    assert set(states) == {
        "kdump-validated",
        "kdump-package",
        "kdump-dump-target",
        "kdump-space-checked",
        "kdump-crashkernel",
        "kdump-config",
        "kdump-sysctl-kernel.panic",
        "kdump-sysctl-kernel.panic_on_oops",
        "kdump-service",
        "kdump-ready",
    }
    # Requisites, not file order: the check runs first.
    assert min(states.values(), key=lambda state: state["__run_num__"])["__id__"] == "kdump-validated"

    validated = states["kdump-validated"]
    assert validated["result"] is True and validated["changes"] == {}, validated

    package = states["kdump-package"]
    assert set(package["changes"]) <= set(DEBIAN_PKGS)
    assert package["result"] is (None if package["changes"] else True), package

    target = states["kdump-dump-target"]
    assert target["result"] is None, target
    assert target["changes"] == {
        "lv": {"old": None, "new": "1000M"},
        "filesystem": {"old": None, "new": "ext3"},
        "mount": {"old": None, "new": "/dev/rootvg/crashlv on /var/crash (ext3, fstab)"},
    }
    assert "/dev/rootvg/crashlv" in target["comment"]

    crashkernel = states["kdump-crashkernel"]
    assert crashkernel["result"] is None, crashkernel
    assert crashkernel["changes"] == {"configured": {"old": None, "new": "128M@16M"}}
    assert crashkernel["reboot_pending"] is True
    assert "reboot" in crashkernel["comment"]

    config = states["kdump-config"]
    assert config["result"] is None, config
    # No reservation yet: the file would change; the capture initrd is built after the reboot.
    assert set(config["changes"]) == {"config"}
    assert config["changes"]["config"]["path"] == "/etc/default/kdump-tools"
    assert '+MAKEDUMP_ARGS="-c -d 20"' in config["changes"]["config"]["diff"].splitlines()

    for key, value in (("kernel.panic", 180), ("kernel.panic_on_oops", 0)):
        sysctl = states[f"kdump-sysctl-{key}"]
        # The fake root has no sysctl file yet, so each value is to be written there.
        assert sysctl["result"] is None, sysctl
        assert f"{key}" in sysctl["comment"] and str(value) in sysctl["comment"]

    service = states["kdump-service"]
    assert service["result"] is None and service["changes"] == {}, service
    assert "kdump-tools" in service["comment"]

    # Not ready today, and honest about it: no reservation until the reboot.
    ready = states["kdump-ready"]
    assert ready["result"] is not True and ready["changes"] == {}, ready
    assert "no memory reserved for the crash kernel" in ready["comment"]

    # test=True changed nothing: no LVM change command ran, no file appeared in the root.
    assert (debian_root / "etc/default/grub").read_text() == grub_before
    assert not (debian_root / "etc/default/kdump-tools").exists()
    assert not (debian_root / "etc/sysctl.d").exists()
    tools_run = {line.split()[0] for line in lvm_tools["calls"].read_text().splitlines()}
    assert {"vgdisplay", "lvdisplay"} <= tools_run
    assert not tools_run & {"lvcreate", "lvresize", "lvremove", "mkfs.ext3", "mke2fs"}


def test_bad_pillar_stops_everything_behind_validation(salt_cli, minion, synced, debian_root):
    bad = '{"kdump": {"settings": {"collector": {"dump_level": 40}}}}'
    ret = salt_cli.run("state.apply", "kdump", "test=True", f"pillar={bad}", minion_tgt=minion.id)
    assert ret.returncode != 0
    states = by_id(ret.data)
    validated = states.pop("kdump-validated")
    assert validated["result"] is False
    assert validated["comment"].startswith("kdump:settings:collector:dump_level"), validated
    assert "40" in validated["comment"]
    assert states
    for state_id, state in states.items():
        assert state["result"] is False and state["changes"] == {}, (state_id, state)
        assert state["comment"].startswith("One or more requisite failed"), (state_id, state)
        assert "kdump-validated" in state["comment"], (state_id, state)
    assert not (debian_root / "etc/default/kdump-tools").exists()


def test_clean_test_true_on_a_host_without_kdump(salt_cli, minion, synced, debian_root, lvm_tools):
    """kdump.clean through the master, purging the volume: nothing is there to remove yet, so
    every state is already in its wanted state or (a service unknown to this host) predicted."""
    purge = '{"kdump": {"purge_target": true}}'
    ret = salt_cli.run(
        "state.apply", "kdump.clean", "test=True", f"pillar={purge}", minion_tgt=minion.id
    )
    states = by_id(ret.data)
    assert set(states) == {
        "kdump-validated",
        "kdump-clean-crashkernel",
        "kdump-clean-service-dead",
        "kdump-clean-service-disabled",
        "kdump-clean-config",
        "kdump-clean-sysctl-file",
        "kdump-clean-target-unmounted",
        "kdump-clean-target-lv-absent",
    }
    for state_id, state in states.items():
        assert state["result"] in (True, None), (state_id, state)
        assert state["changes"] == {}, (state_id, state)
    assert states["kdump-clean-crashkernel"]["comment"] == "No crashkernel= is configured."
    assert states["kdump-clean-target-lv-absent"]["comment"] == "Logical Volume crashlv already absent"
    assert states["kdump-clean-config"]["name"] == f"{debian_root}/etc/default/kdump-tools"
    tools_run = {line.split()[0] for line in lvm_tools["calls"].read_text().splitlines()}
    assert not tools_run & {"lvcreate", "lvresize", "lvremove", "mkfs.ext3", "mke2fs"}
