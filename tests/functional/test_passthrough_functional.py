"""Functional tier: kdump:passthrough and RedHat's /etc/sysconfig/kdump through Salt's real
loaders, the real kdump execution module and state, on fake RedHat and Debian roots: the file
contents, the test=True prediction, an idempotent second run, the rebuild (kdumpctl rebuild +
restart, which is what applies a sysconfig change), and kdump.clean's restore of the file."""

import pathlib
import shutil

import pytest
from saltfactories.utils.functional import Loaders

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "kdumpconf"
RHEL_SYSCONFIG = (FIXTURES / "rhel9-sysconfig-kdump").read_text()
RESERVED = 256 << 20
KDUMP_CONF = "# RHEL kdump.conf\npath /var/crash\ncore_collector makedumpfile -l --message-level 1 -d 31\n"


def _sysfs(root):
    sysfs = root / "sys/kernel"
    sysfs.mkdir(parents=True)
    (sysfs / "kexec_crash_size").write_text(f"{RESERVED}\n")
    (sysfs / "kexec_crash_loaded").write_text("0\n")
    (root / "proc").mkdir()
    (root / "proc/cmdline").write_text("BOOT_IMAGE=/vmlinuz root=/dev/vda1 crashkernel=256M\n")
    (root / "proc/meminfo").write_text("MemTotal:        4026532 kB\n")
    (root / "var/crash").mkdir(parents=True)
    return sysfs


def _recorder(fake_bin, name, sysfs, loads_on):
    log = fake_bin / f"{name}.log"
    script = fake_bin / name
    script.write_text(
        "#!/bin/sh\n"
        f'echo "{name} $*" >> {log}\n'
        f'[ "$1" = {loads_on} ] && echo 1 > {sysfs}/kexec_crash_loaded\n'
        "exit 0\n"
    )
    script.chmod(0o755)
    return log


@pytest.fixture
def loaders(request, base_minion_opts, fake_root, tmp_path):
    """Loaders of their own, whose static ``os_family`` grain is the test's (the
    ``os_family`` marker, default RedHat). Changing the shared loaders' grains is not seen by
    modules Salt 3006/3007 loaded before (they keep a copy): the family must be there from
    the start. Salt reads static grains from the minion's config file, so it gets one."""
    marker = request.node.get_closest_marker("os_family")
    family = marker.args[0] if marker else "RedHat"
    conf_file = tmp_path / "minion"
    conf_file.write_text(f"grains:\n  os_family: {family}\n", encoding="utf-8")
    own = Loaders(dict(base_minion_opts, kdump_root=str(fake_root), conf_file=str(conf_file)))
    assert own.grains["os_family"] == family
    return own


@pytest.fixture
def redhat_host(loaders, fake_root, fake_bin):
    (fake_root / "etc/sysconfig").mkdir(parents=True)
    (fake_root / "etc/kdump.conf").write_text(KDUMP_CONF)
    (fake_root / "etc/sysconfig/kdump").write_text(RHEL_SYSCONFIG)
    sysfs = _sysfs(fake_root)
    log = _recorder(fake_bin, "kdumpctl", sysfs, "restart")
    return {"root": fake_root, "log": log, "sysfs": sysfs}


@pytest.fixture
def debian_host(loaders, fake_root, fake_bin):
    assert loaders.grains["os_family"] == "Debian", "mark the test os_family('Debian')"
    (fake_root / "etc/default").mkdir(parents=True)
    shutil.copy(FIXTURES / "debian12-kdump-tools", fake_root / "etc/default/kdump-tools")
    sysfs = _sysfs(fake_root)
    log = _recorder(fake_bin, "kdump-config", sysfs, "load")
    return {"root": fake_root, "log": log, "sysfs": sysfs}


def calls(host):
    return host["log"].read_text().splitlines() if host["log"].exists() else []


RHEL_SETTINGS = {"capture_cmdline_append": "console=ttyS0,115200 panic=10"}
RHEL_PASSTHROUGH = {
    "kdump_conf": {"fence_kdump_nodes": ["node2.example.com", "10.0.0.3"], "link_delay": 15},
    "sysconfig": {"KEXEC_ARGS": "-s --elf64-core-headers"},
}


def test_redhat_sysconfig_and_kdump_conf_predicted_written_and_idempotent(loaders, redhat_host):
    root = redhat_host["root"]
    configured = loaders.states.kdump.configured
    predicted = configured(name="kdump-config", settings=RHEL_SETTINGS, passthrough=RHEL_PASSTHROUGH, test=True)
    assert predicted.result is None, predicted.comment
    assert set(predicted.changes) == {"config", "sysconfig", "rebuilt"}
    assert predicted.changes["sysconfig"]["path"] == "/etc/sysconfig/kdump"
    assert '+KEXEC_ARGS="-s --elf64-core-headers"' in predicted.changes["sysconfig"]["diff"]
    assert "/etc/kdump.conf and /etc/sysconfig/kdump would be updated" in predicted.comment
    assert (root / "etc/sysconfig/kdump").read_text() == RHEL_SYSCONFIG and calls(redhat_host) == []

    real = configured(name="kdump-config", settings=RHEL_SETTINGS, passthrough=RHEL_PASSTHROUGH)
    assert real.result is True, real.comment
    assert real.changes == predicted.changes
    assert calls(redhat_host) == ["kdumpctl rebuild", "kdumpctl restart"]

    conf = (root / "etc/kdump.conf").read_text()
    # the settings' default collector (zlib, -d 31), then the passthrough lines appended
    assert conf == (
        "# RHEL kdump.conf\npath /var/crash\ncore_collector makedumpfile -c -d 31\n"
        "fence_kdump_nodes node2.example.com 10.0.0.3\nlink_delay 15\n"
    )
    sysconfig = (root / "etc/sysconfig/kdump").read_text()
    base = next(line for line in RHEL_SYSCONFIG.splitlines() if line.startswith("KDUMP_COMMANDLINE_APPEND="))
    # panic=10 is already one of RHEL's words: appended once, after the distribution's
    assert f'{base[:-1]} console=ttyS0,115200"' in sysconfig.splitlines()
    assert 'KEXEC_ARGS="-s --elf64-core-headers"' in sysconfig.splitlines()
    assert len(sysconfig.splitlines()) == len(RHEL_SYSCONFIG.splitlines())
    assert (root / "etc/sysconfig/kdump.kdump-formula.orig").read_text() == RHEL_SYSCONFIG
    assert loaders.modules.kdump.settings()["capture_cmdline_append"] == "console=ttyS0,115200"
    assert loaders.modules.kdump.rebuild_pending()["pending"] is False

    again = configured(name="kdump-config", settings=RHEL_SETTINGS, passthrough=RHEL_PASSTHROUGH)
    assert again.result is True and again.changes == {}
    assert "already configured" in again.comment
    assert calls(redhat_host) == ["kdumpctl rebuild", "kdumpctl restart"]


def test_redhat_sysconfig_only_change_restarts_and_removal_restores(loaders, redhat_host):
    root = redhat_host["root"]
    configured = loaders.states.kdump.configured
    first = configured(name="kdump-config", settings={}, passthrough={"sysconfig": {"KEXEC_ARGS": "-s -d"}})
    assert first.result is True and set(first.changes) == {"config", "sysconfig", "rebuilt"}
    # without the append and the passthrough key set back, the distribution's lines return
    back = configured(name="kdump-config", settings={}, passthrough={"sysconfig": {"KEXEC_ARGS": "-s"}})
    assert back.result is True and set(back.changes) == {"sysconfig", "rebuilt"}
    assert (root / "etc/sysconfig/kdump").read_text() == RHEL_SYSCONFIG
    assert calls(redhat_host) == ["kdumpctl rebuild", "kdumpctl restart"] * 2


def test_bad_passthrough_fails_naming_every_key_and_changes_nothing(loaders, redhat_host):
    bad = {"kdump_conf": {"link_delay": "soon", "path": "/x"}, "kdump_tools": {"HOSTTAG": "ip"}}
    for test in (True, False):
        ret = loaders.states.kdump.configured(name="kdump-config", settings={}, passthrough=bad, test=test)
        assert ret.result is False and ret.changes == {}
        lines = ret.comment.splitlines()
        assert lines[0].startswith("kdump:passthrough:kdump_conf:link_delay: ")
        assert lines[1].startswith("kdump:passthrough:kdump_conf:path: is managed by kdump:settings:target:path")
    only_family = loaders.states.kdump.configured(name="kdump-config", settings={}, passthrough={"kdump_tools": {"HOSTTAG": "ip"}})
    assert only_family.result is False
    assert only_family.comment == "kdump:passthrough:kdump_tools: applies to Debian only, this minion is RedHat"
    assert (root := redhat_host["root"]) and (root / "etc/kdump.conf").read_text() == KDUMP_CONF
    assert (root / "etc/sysconfig/kdump").read_text() == RHEL_SYSCONFIG
    assert calls(redhat_host) == []


def test_validate_pillar_reports_passthrough_with_the_rest(loaders, redhat_host):
    with pytest.raises(Exception) as exc:
        loaders.modules.kdump.validate_pillar(
            {"settings": {"failure_action": "nap"}, "passthrough": {"kdump_tools": {"NFS_TIMEO": 0}}}
        )
    lines = str(exc.value).splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [
        "kdump:settings:failure_action",
        "kdump:passthrough:kdump_tools:NFS_TIMEO",
    ]
    with pytest.raises(Exception, match="kdump:passthrough:kdump_tools: applies to Debian only, this minion is RedHat"):
        loaders.modules.kdump.validate_pillar({"passthrough": {"kdump_tools": {"NFS_TIMEO": 10}}})


def test_clean_gives_the_distributions_sysconfig_back(loaders, redhat_host):
    root = redhat_host["root"]
    ret = loaders.states.kdump.configured(name="kdump-config", settings=RHEL_SETTINGS, passthrough=RHEL_PASSTHROUGH)
    assert ret.result is True
    assert (root / "etc/sysconfig/kdump").read_text() != RHEL_SYSCONFIG
    high = loaders.modules.state.show_sls("kdump.clean", pillar={"kdump": {}})
    assert isinstance(high, dict), high
    # run the clean's file states for both files as rendered (the service states would act on
    # this host: the inverse of the whole formula is tests/functional/test_clean_inverse.py)
    for state_id in ("kdump-clean-config", "kdump-clean-sysconfig", "kdump-clean-sysconfig.kdump-formula.bak",
                     "kdump-clean-config.kdump-formula.bak", "kdump-clean-sysconfig.kdump-formula.created"):
        body = high[state_id]["file"]
        function = next(item for item in body if isinstance(item, str))
        args = {key: value for item in body if isinstance(item, dict) for key, value in item.items() if key != "require"}
        result = getattr(loaders.states.file, function)(**args)
        assert result.result is True, (state_id, result.comment)
    assert (root / "etc/sysconfig/kdump").read_text() == RHEL_SYSCONFIG
    assert (root / "etc/kdump.conf").read_text() == KDUMP_CONF
    leftovers = sorted(path.name for path in (root / "etc").rglob("*kdump-formula*"))
    assert leftovers == []


DEBIAN_PASSTHROUGH = {"kdump_tools": {"KDUMP_NUM_DUMPS": 3, "HOSTTAG": "hostname", "KDUMP_KERNEL": None}}


@pytest.mark.os_family("Debian")
def test_debian_kdump_tools_variables_predicted_written_and_idempotent(loaders, debian_host):
    config = debian_host["root"] / "etc/default/kdump-tools"
    before = config.read_text()
    configured = loaders.states.kdump.configured
    predicted = configured(name="kdump-config", settings={}, passthrough=DEBIAN_PASSTHROUGH, test=True)
    assert predicted.result is None and set(predicted.changes) == {"config", "rebuilt"}
    assert config.read_text() == before and calls(debian_host) == []

    real = configured(name="kdump-config", settings={}, passthrough=DEBIAN_PASSTHROUGH)
    assert real.result is True, real.comment
    assert real.changes == predicted.changes
    lines = config.read_text().splitlines()
    assert "KDUMP_NUM_DUMPS=3" in lines and 'HOSTTAG="hostname"' in lines
    assert not any(line.startswith("KDUMP_KERNEL=") for line in lines)
    assert "KDUMP_INITRD=/var/lib/kdump/initrd.img" in lines
    assert calls(debian_host) == ["kdump-config unload", "kdump-config load"]

    again = configured(name="kdump-config", settings={}, passthrough=DEBIAN_PASSTHROUGH)
    assert again.result is True and again.changes == {}
    assert calls(debian_host) == ["kdump-config unload", "kdump-config load"]
