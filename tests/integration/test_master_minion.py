"""Integration tier: a real salt-master and one salt-minion per OS family (RedHat, Debian,
Suse) on loopback, set up as docs/getting-started.md tells a user to: file_roots
``<repo>/salt`` and ``<repo>``, pillar_roots whose top file hands every minion
``pillar.example`` itself (tests/pillar/example.sls is a link to it), ``saltutil.sync_all``,
then ``state.apply kdump test=True``: a newcomer's first dry run, green on every family.

Nothing touches this host: each minion's ``kdump_root`` points at a fake root of its family
(its ``os_family``/``os``/``osrelease`` grains set in its configuration), the boot-loader and
LVM tools the modules ask are small scripts first on the minion's PATH, and Salt's ``pkg`` and
``service`` modules are the test doubles of ``tests/doubles`` chosen through the minion's
``providers`` option (this host has neither yum/zypper nor a running init system): nothing
installed, no service enabled or running, and whatever they would change would land in the
fake root, which the dry run must leave as it was.
"""

import os
import pathlib

import pytest
import yaml

from kdumplib import osfamily

REPO = pathlib.Path(__file__).resolve().parents[2]
PILLAR_ROOT = REPO / "tests" / "pillar"
EXAMPLE = yaml.safe_load((REPO / "pillar.example").read_text(encoding="utf-8"))["kdump"]

# The OS facts (packages, service, config file) come from kdumplib.osfamily, their one owner.
FAMILIES = {
    "RedHat": {
        "grains": {"os_family": "RedHat", "os": "Rocky", "osrelease": "9.4"},
        # kexec-tools' default for RHEL 9 (the host has 1.9 GiB: 192M).
        "crashkernel": "1G-4G:192M,4G-64G:256M,64G-:512M",
        "lvm": True,
    },
    "Debian": {
        "grains": {"os_family": "Debian", "os": "Debian", "osrelease": "12"},
        "crashkernel": "384M-:128M",
        "lvm": True,
    },
    "Suse": {
        "grains": {"os_family": "Suse", "os": "SLES", "osrelease": "15.5"},
        "crashkernel": "192M",
        # No LVM tools on this one: the newcomer's host before lvm2 is installed.
        "lvm": False,
    },
}

# vgdisplay -c: name:access:status:#:maxlv:curlv:openlv:maxsize:maxpv:curpv:actpv:
#               size kB:extent kB:total extents:allocated extents:free extents:uuid
VGDISPLAY = "  rootvg:r/w:772:-1:0:1:1:-1:0:1:1:20963328:4096:5118:2558:2560:kdumpformulatestvg"
CHANGING_TOOLS = ("lvcreate", "lvresize", "lvremove", "mkfs.ext4", "mke2fs", "update-grub",
                  "grub2-mkconfig", "grubby")

# Salt's pkg and service modules are the project's test doubles (tests/doubles), which keep
# their state in files under kdump_root: with none there, nothing is installed and no service
# is enabled or running; anything they would change lands in the fake root, which the dry run
# must leave untouched.
DOUBLES = REPO / "tests" / "doubles"


def _script(path, body):
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def _common_root(root):
    (root / "proc").mkdir(parents=True)
    (root / "proc/cmdline").write_text("BOOT_IMAGE=/boot/vmlinuz root=/dev/vda1 ro quiet\n")
    (root / "proc/meminfo").write_text("MemTotal:        2017196 kB\n")
    (root / "sys/kernel").mkdir(parents=True)
    (root / "sys/kernel/kexec_crash_size").write_text("0\n")
    (root / "sys/kernel/kexec_crash_loaded").write_text("0\n")
    (root / "var/crash").mkdir(parents=True)


def make_root(root, family):
    """A fresh host of the family as the kdump modules see it: its boot loader, no
    crashkernel= yet, no reservation, no kdump config, 1.9 GiB of RAM."""
    _common_root(root)
    if family == "RedHat":
        # RHEL 9: BLS entries edited by grubby.
        (root / "boot/loader/entries").mkdir(parents=True)
        (root / "boot/loader/entries/0123-5.14.0-427.el9.x86_64.conf").write_text(
            "title Rocky Linux (5.14.0-427.el9.x86_64) 9.4\nversion 5.14.0-427.el9.x86_64\n"
            "linux /vmlinuz-5.14.0-427.el9.x86_64\noptions root=/dev/mapper/rl-root ro rhgb quiet\n"
        )
        (root / "boot/grub2").mkdir(parents=True)
        (root / "boot/grub2/grub.cfg").write_text("blscfg\n")
        (root / "etc/default").mkdir(parents=True)
        (root / "etc/default/grub").write_text('GRUB_CMDLINE_LINUX="rhgb quiet"\n')
    else:
        # Debian 12 and SLES 15: /etc/default/grub and grub(2)-mkconfig.
        (root / "etc/default/grub.d").mkdir(parents=True)
        (root / "etc/default/grub").write_text(
            'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n'
        )
        grub = "boot/grub/grub.cfg" if family == "Debian" else "boot/grub2/grub.cfg"
        (root / grub).parent.mkdir(parents=True)
        (root / grub).write_text("menuentry 'Linux' {\n}\n")
    return root


@pytest.fixture(scope="module")
def tools(tmp_path_factory):
    """Two PATH directories. ``grub`` holds the boot-loader tools and the mkfs/LVM change
    commands, every one of them failing loudly; ``lvm`` adds ``lvm`` (Salt's lvm module loads
    when it is on PATH), ``vgdisplay`` and ``lvdisplay`` answering for a volume group
    ``rootvg`` with 10 GiB free and no LV ``crashlv``. Every call is recorded."""
    grub = tmp_path_factory.mktemp("tools-bin")
    lvm = tmp_path_factory.mktemp("lvm-bin")
    calls = grub / "calls.log"
    record = f'echo "$(basename "$0") $*" >> {calls}\n'
    for tool in CHANGING_TOOLS:
        _script(grub / tool, record + f'echo "{tool}: must not run under test=True" >&2\nexit 99\n')
    _script(lvm / "lvm", record + 'echo "lvm: not on this test host" >&2\nexit 3\n')
    _script(
        lvm / "vgdisplay",
        record
        + '[ "$2" = rootvg ] || { echo "  Volume group \\"$2\\" not found" >&2; exit 5; }\n'
        + f'echo "{VGDISPLAY}"\n',
    )
    _script(lvm / "lvdisplay", record + 'echo "  Failed to find logical volume \\"$2\\"" >&2\nexit 5\n')
    return {"grub": grub, "lvm": lvm, "calls": calls}


def tools_run(tools):
    if not tools["calls"].exists():
        return set()
    return {line.split()[0] for line in tools["calls"].read_text().splitlines()}


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
def roots(tmp_path_factory):
    return {family: make_root(tmp_path_factory.mktemp(f"root-{family}"), family) for family in FAMILIES}


@pytest.fixture(scope="module")
def minions(master, roots, tools):
    started = {}
    try:
        for family, facts in FAMILIES.items():
            factory = master.salt_minion_daemon(
                f"kdump-{family.lower()}",
                overrides={
                    "kdump_root": str(roots[family]),
                    "grains": facts["grains"],
                    "module_dirs": [str(DOUBLES)],
                    "providers": {"pkg": "kdumptest_pkg", "service": "kdumptest_service"},
                },
            )
            # The factories manager hands every daemon its one environ dict: give each its own.
            environ = dict(factory.environ)
            path = [str(tools["grub"])] + ([str(tools["lvm"])] if facts["lvm"] else [])
            environ["PATH"] = os.pathsep.join(path + [environ["PATH"]])
            factory.environ = environ
            factory.start()
            started[family] = factory
        yield started
    finally:
        for factory in started.values():
            factory.terminate()


@pytest.fixture(scope="module")
def salt_cli(master):
    return master.salt_cli(timeout=180)


@pytest.fixture(scope="module")
def synced(salt_cli, minions):
    ret = salt_cli.run("saltutil.sync_all", minion_tgt="kdump-*")
    assert ret.returncode == 0, ret
    return ret.data


def by_id(data):
    """state.apply return keyed by state ID."""
    assert isinstance(data, dict), data
    return {value["__id__"]: value for value in data.values()}


def test_sync_all_delivers_the_project_modules(synced):
    assert set(synced) == {f"kdump-{family.lower()}" for family in FAMILIES}
    for data in synced.values():
        assert {"modules.crashkernel", "modules.kdump", "modules.vmcore"} <= set(data["modules"])
        assert {"states.crashkernel", "states.kdump", "states.vmcore"} <= set(data["states"])
        assert any(name.startswith("utils.kdumplib") for name in data["utils"]), data["utils"]


@pytest.mark.parametrize("family", FAMILIES)
def test_minion_gets_pillar_example_as_it_is(salt_cli, minions, synced, family):
    ret = salt_cli.run("pillar.get", "kdump", "unmask=True", minion_tgt=minions[family].id)
    assert ret.returncode == 0, ret
    assert ret.data == EXAMPLE


@pytest.mark.parametrize("family", FAMILIES)
def test_newcomer_dry_run_is_green(salt_cli, minions, synced, roots, tools, family):
    """docs/getting-started.md step 3 with pillar.example: every state True or None."""
    facts, root = FAMILIES[family], roots[family]
    before = sorted(str(path.relative_to(root)) for path in root.rglob("*"))
    ret = salt_cli.run("state.apply", "kdump", "test=True", minion_tgt=minions[family].id)
    states = by_id(ret.data)
    assert ret.returncode == 0, ret

    assert {state_id: state["result"] for state_id, state in states.items() if state["result"] is False} == {}
    expected = {
        "kdump-validated",
        "kdump-package",
        "kdump-dump-target",
        "kdump-space-checked",
        "kdump-crashkernel",
        "kdump-config",
        "kdump-sysctl-saved",
        "kdump-sysctl-kernel.panic",
        "kdump-sysctl-kernel.panic_on_oops",
        "kdump-service",
        "kdump-ready",
        "kdump-retention",
    }
    if family != "RedHat":
        expected.add("kdump-sysctl-after-service")
    if not osfamily.OS_FAMILIES[family]["service_starts_unreserved"]:
        expected.add("kdump-service-running")
    assert set(states) == expected
    # Requisites, not file order: the check runs first; the sysctl states run last, after
    # the service (which on Debian and Suse sets kernel.panic_on_oops=1 when it loads).
    order = sorted(states, key=lambda state_id: states[state_id]["__run_num__"])
    assert order[0] == "kdump-validated"
    assert set(order[-2:]) == {"kdump-sysctl-kernel.panic", "kdump-sysctl-kernel.panic_on_oops"}

    assert states["kdump-validated"]["result"] is True

    package = states["kdump-package"]
    assert package["result"] is None, package
    os_facts = osfamily.OS_FAMILIES[family]
    for name in os_facts["pkgs"] + os_facts["lvm_pkgs"]:
        assert name in package["comment"], package

    target = states["kdump-dump-target"]
    assert target["result"] is None, target
    if facts["lvm"]:
        assert target["changes"] == {
            "lv": {"old": None, "new": target["changes"]["lv"]["new"]},
            "filesystem": {"old": None, "new": "ext4"},
            "mount": {"old": None, "new": "/dev/rootvg/crashlv on /var/crash (ext4, fstab)"},
        }
        assert "/dev/rootvg/crashlv" in target["comment"]
    else:
        # lvm2 comes with the packages: the volume group is looked at on the real run.
        assert target["changes"] == {}
        assert "the package state installs lvm2" in target["comment"]

    crashkernel = states["kdump-crashkernel"]
    assert crashkernel["result"] is None, crashkernel
    assert crashkernel["changes"] == {"configured": {"old": None, "new": facts["crashkernel"]}}
    assert crashkernel["reboot_pending"] is True

    config = states["kdump-config"]
    assert config["result"] is None, config
    assert config["changes"]["config"]["path"] == os_facts["config_file"]

    if os_facts["service_starts_unreserved"]:
        running = states["kdump-service"]  # enabled and started in one state
        assert running["result"] is None and os_facts["service"] in running["comment"], running
    else:
        running = states["kdump-service-running"]
        # kdumpctl / load.sh refuse without a reservation: started after the reboot.
        assert running["result"] is True and running["comment"] == "onlyif condition is false", running

    ready = states["kdump-ready"]
    assert ready["result"] is None and ready["changes"] == {}, ready
    assert ready["comment"].startswith("kdump is not ready now:"), ready

    # test=True changed nothing: no file appeared in the root, no change command ran.
    assert sorted(str(path.relative_to(root)) for path in root.rglob("*")) == before
    assert not tools_run(tools) & set(CHANGING_TOOLS)


def test_bad_pillar_stops_everything_behind_validation(salt_cli, minions, synced, roots):
    bad = '{"kdump": {"settings": {"collector": {"dump_level": 40}}}}'
    ret = salt_cli.run(
        "state.apply", "kdump", "test=True", f"pillar={bad}", minion_tgt=minions["Debian"].id
    )
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
    assert not (roots["Debian"] / "etc/default/kdump-tools").exists()


def test_clean_test_true_on_a_host_without_kdump(salt_cli, minions, synced, roots, tools):
    """kdump.clean through the master, purging the volume: nothing is there to remove yet, so
    every state is already in its wanted state or (a service) predicted."""
    purge = '{"kdump": {"purge_target": true}}'
    ret = salt_cli.run(
        "state.apply", "kdump.clean", "test=True", f"pillar={purge}", minion_tgt=minions["Debian"].id
    )
    states = by_id(ret.data)
    assert {
        "kdump-validated",
        "kdump-clean-crashkernel",
        "kdump-clean-service-dead",
        "kdump-clean-service-disabled",
        "kdump-clean-sysctl-file",
        "kdump-clean-target-unmounted",
        "kdump-clean-target-lv-absent",
    } <= set(states)
    for state_id, state in states.items():
        assert state["result"] in (True, None), (state_id, state)
        assert state["changes"] == {}, (state_id, state)
    assert states["kdump-clean-crashkernel"]["comment"] == "No crashkernel= is configured."
    assert states["kdump-clean-target-lv-absent"]["comment"] == "Logical Volume crashlv already absent"
    # The formula never wrote a config file here: none to restore or remove.
    assert "kdump-clean-config" not in states
    assert not tools_run(tools) & set(CHANGING_TOOLS)
