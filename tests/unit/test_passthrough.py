"""kdump:passthrough (kdumplib.passthrough): per-file known keys, each key's grammar, every
error at once naming its key, the managed keys refused naming the setting, rendering into the
files in place, and values that come back exactly when a real shell sources the file."""

import os
import pathlib
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from kdumplib import kdumpconf, passthrough, schema

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "kdumpconf"
RHEL_SYSCONFIG = (FIXTURES / "rhel9-sysconfig-kdump").read_text()
DEBIAN = (FIXTURES / "debian12-kdump-tools").read_text()
RHEL_APPEND = kdumpconf.shell_value(RHEL_SYSCONFIG, "KDUMP_COMMANDLINE_APPEND")
SHELLS = [shell for shell in ("/bin/sh", "/bin/bash") if os.path.exists(shell)]


def check(data):
    """``(normalized, errors)`` of a passthrough mapping."""
    report = schema.Report()
    normalized = passthrough.check(data, "kdump:passthrough", report)
    return normalized, report.errors


# ----------------------------------------------------------------- grammar per key

GOOD = [
    ("kdump_conf", "fence_kdump_nodes", ["node1.example.com", "10.0.0.2"], "node1.example.com 10.0.0.2"),
    ("kdump_conf", "fence_kdump_nodes", "node1 node2", "node1 node2"),
    ("kdump_conf", "fence_kdump_args", "-p 7410  -f auto -c 0 -i 10", "-p 7410 -f auto -c 0 -i 10"),
    ("kdump_conf", "link_delay", 30, "30"),
    ("kdump_conf", "extra_bins", ["/usr/bin/lftp", "/usr/local/bin/tool"], "/usr/bin/lftp /usr/local/bin/tool"),
    ("kdump_conf", "blacklist", ["nouveau", "mlx5_core"], "nouveau mlx5_core"),
    ("kdump_conf", "force_rebuild", 1, "1"),
    ("kdump_conf", "force_no_rebuild", False, "0"),
    ("kdump_conf", "final_action", "poweroff", "poweroff"),
    ("sysconfig", "KEXEC_ARGS", "-s --elf64-core-headers", "-s --elf64-core-headers"),
    ("sysconfig", "KDUMP_COMMANDLINE_REMOVE", "hugepages quiet", "hugepages quiet"),
    ("sysconfig", "KDUMP_KERNELVER", "5.14.0-362.8.1.el9_3.x86_64", "5.14.0-362.8.1.el9_3.x86_64"),
    ("kdump_tools", "KDUMP_KERNEL", "/var/lib/kdump/vmlinuz", "/var/lib/kdump/vmlinuz"),
    ("kdump_tools", "KDUMP_INITRD", "/var/lib/kdump/initrd.img", "/var/lib/kdump/initrd.img"),
    ("kdump_tools", "KDUMP_DUMP_DMESG", 0, "0"),
    ("kdump_tools", "KDUMP_NUM_DUMPS", 5, "5"),
    ("kdump_tools", "KDUMP_COMPRESSION", "xz", "xz"),
    ("kdump_tools", "KDUMP_KEXEC_ARGS", "--elf64-core-headers", "--elf64-core-headers"),
    ("kdump_tools", "KDUMP_CMDLINE", "root=/dev/vda1 ro console=ttyS0,115200", "root=/dev/vda1 ro console=ttyS0,115200"),
    ("kdump_tools", "HOSTTAG", "hostname", "hostname"),
    ("kdump_tools", "NFS_TIMEO", 600, "600"),
    ("kdump_tools", "NFS_RETRANS", 3, "3"),
    ("kdump_tools", "NFS_MOUNT_RETRY", 4, "4"),
    ("kdump_tools", "SSH_KDUMP_RETRY", 16, "16"),
]


@pytest.mark.parametrize("section, name, value, text", GOOD)
def test_each_key_takes_its_grammar_and_normalizes(section, name, value, text):
    normalized, errors = check({section: {name: value}})
    assert errors == []
    assert normalized[section] == {name: text}


BAD = [
    ("kdump_conf", "fence_kdump_nodes", ["node1", "bad host"], "is not a host name"),
    ("kdump_conf", "fence_kdump_nodes", [], "expected a non-empty list of host names"),
    ("kdump_conf", "fence_kdump_args", "-p $(reboot)", "is not a plain argument"),
    ("kdump_conf", "fence_kdump_args", "", "must not be empty"),
    ("kdump_conf", "link_delay", "30", "expected an integer"),
    ("kdump_conf", "link_delay", -1, "is below 0"),
    ("kdump_conf", "link_delay", 3601, "out of range 0-3600"),
    ("kdump_conf", "extra_bins", ["bin/lftp"], "is not an absolute path"),
    ("kdump_conf", "extra_bins", ["/usr/../bin/sh"], "must not contain a .. component"),
    ("kdump_conf", "blacklist", ["nouveau;reboot"], "is not a kernel module name"),
    ("kdump_conf", "force_rebuild", 2, "expected 0 or 1"),
    ("kdump_conf", "force_rebuild", "yes", "expected 0 or 1"),
    ("kdump_conf", "final_action", "shell", "is not one of reboot, halt, poweroff"),
    ("sysconfig", "KEXEC_ARGS", "-s 'a b'", "is not a plain argument"),
    ("sysconfig", "KEXEC_ARGS", ["-s"], "expected an argument string"),
    ("sysconfig", "KDUMP_KERNELVER", "5.14 x", "is not a kernel release"),
    ("kdump_tools", "KDUMP_KERNEL", "vmlinuz", "is not an absolute path"),
    ("kdump_tools", "KDUMP_DUMP_DMESG", 1.0, "expected 0 or 1"),
    ("kdump_tools", "KDUMP_NUM_DUMPS", True, "expected an integer"),
    ("kdump_tools", "KDUMP_COMPRESSION", "zstd", "is not one of bzip2, gzip, lz4, xz"),
    ("kdump_tools", "HOSTTAG", "fqdn", "is not one of hostname, ip"),
    ("kdump_tools", "NFS_TIMEO", 0, "is below 1"),
]


@pytest.mark.parametrize("section, name, value, reason", BAD)
def test_a_bad_value_is_refused_naming_the_key(section, name, value, reason):
    normalized, errors = check({section: {name: value}})
    assert len(errors) == 1
    assert errors[0].startswith(f"kdump:passthrough:{section}:{name}: ")
    assert reason in errors[0]
    assert name not in normalized[section]


def test_null_means_remove_and_is_kept_as_none():
    normalized, errors = check({"kdump_conf": {"link_delay": None}, "kdump_tools": {"HOSTTAG": None}})
    assert errors == []
    assert normalized == {"kdump_conf": {"link_delay": None}, "sysconfig": {}, "kdump_tools": {"HOSTTAG": None}}


def test_unknown_key_lists_the_known_ones():
    _, errors = check({"kdump_conf": {"link_dleay": 5}})
    assert errors == [
        "kdump:passthrough:kdump_conf:link_dleay: unknown key (known keys: blacklist, extra_bins, "
        "fence_kdump_args, fence_kdump_nodes, final_action, force_no_rebuild, force_rebuild, link_delay)"
    ]


@pytest.mark.parametrize(
    "section, name, setting",
    [
        ("kdump_conf", "path", "kdump:settings:target:path"),
        ("kdump_conf", "core_collector", "kdump:settings:collector"),
        ("kdump_conf", "nfs", "kdump:settings:target"),
        ("kdump_conf", "dracut_args", "kdump:settings:initrd:extra_args"),
        ("sysconfig", "KDUMP_COMMANDLINE_APPEND", "kdump:settings:capture_cmdline_append"),
        ("kdump_tools", "KDUMP_CMDLINE_APPEND", "kdump:settings:capture_cmdline_append"),
        ("kdump_tools", "MAKEDUMP_ARGS", "kdump:settings:collector"),
        ("kdump_tools", "USE_KDUMP", "kdump:enabled"),
    ],
)
def test_a_key_the_settings_manage_is_refused_naming_both(section, name, setting):
    _, errors = check({section: {name: "x"}})
    assert errors == [f"kdump:passthrough:{section}:{name}: is managed by {setting}; set it there, not in kdump:passthrough:{section}"]


def test_every_error_at_once_in_the_whole_pillar():
    pillar = {
        "settings": {"collector": {"dump_level": 40}},
        "passthrough": {
            "kdump_conf": {"link_delay": "x", "path": "/var/crash", "force_rebuild": 1, "force_no_rebuild": 1},
            "kdump_tools": {"FTP": "ftp.example.com:/dumps", "NOPE": 1},
            "grub": {},
        },
    }
    with pytest.raises(ValueError) as exc:
        schema.validate_pillar(pillar)
    lines = str(exc.value).splitlines()
    keys = [line.split(": ", 1)[0] for line in lines]
    assert keys == [
        "kdump:settings:collector:dump_level",
        "kdump:passthrough:kdump_conf:link_delay",
        "kdump:passthrough:kdump_conf:path",
        "kdump:passthrough:kdump_conf:force_no_rebuild",
        "kdump:passthrough:kdump_tools:FTP",
        "kdump:passthrough:kdump_tools:NOPE",
        "kdump:passthrough:grub",
    ]
    assert "kdumpctl refuses force_rebuild 1 together with force_no_rebuild 1" in lines[3]
    assert "an FTP dump target" in lines[4]


def test_section_of_another_family_is_named():
    checked = passthrough.validate({"kdump_conf": {"link_delay": 5}, "sysconfig": {"KEXEC_ARGS": "-s"}})
    with pytest.raises(ValueError) as exc:
        passthrough.check_family("Debian", checked)
    assert str(exc.value).splitlines() == [
        "kdump:passthrough:kdump_conf: applies to RedHat only, this minion is Debian",
        "kdump:passthrough:sysconfig: applies to RedHat only, this minion is Debian",
    ]
    passthrough.check_family("RedHat", checked)
    # empty sections of another family are no error (the defaults hold all three)
    passthrough.check_family("Suse", passthrough.validate({}))


def test_the_pillar_default_is_no_passthrough():
    assert schema.validate_pillar({})["passthrough"] == passthrough.DEFAULT_PASSTHROUGH
    assert schema.DEFAULT_PILLAR["passthrough"] == passthrough.DEFAULT_PASSTHROUGH


# ----------------------------------------------------------------- rendering

SEED_CONF = "# mine\npath /var/crash\nlink_delay 10\n#blacklist nouveau\nextra_bins /usr/bin/old\nextra_bins /usr/bin/dup\n"


def redhat(extra, existing=SEED_CONF):
    return kdumpconf.render("RedHat", schema.validate_settings({}), existing, extra)


def test_kdump_conf_keys_are_edited_in_place_appended_or_removed():
    given = passthrough.validate({"kdump_conf": {"link_delay": 20, "extra_bins": None, "blacklist": ["nouveau"]}})
    text = redhat(passthrough.for_file("RedHat", "config", given))
    assert text == (
        "# mine\npath /var/crash\nlink_delay 20\n#blacklist nouveau\n"
        "core_collector makedumpfile -c -d 31\nblacklist nouveau\n"
    )
    # rendered again: nothing changes
    assert redhat(passthrough.for_file("RedHat", "config", given), text) == text


def test_a_key_not_given_is_left_as_the_file_has_it():
    text = redhat({})
    assert "link_delay 10\n" in text and "extra_bins /usr/bin/old\nextra_bins /usr/bin/dup\n" in text


def test_render_refuses_a_managed_directive_even_past_the_schema():
    with pytest.raises(ValueError, match="^path: managed by the settings"):
        redhat({"path": "/elsewhere"})
    with pytest.raises(ValueError, match="^KDUMP_COMMANDLINE_APPEND: managed by capture_cmdline_append"):
        kdumpconf.render_sysconfig("", None, {"KDUMP_COMMANDLINE_APPEND": "x"})


def test_debian_variables_through_the_quoting_writer():
    given = passthrough.validate({"kdump_tools": {"KDUMP_NUM_DUMPS": 3, "KDUMP_KERNEL": None, "HOSTTAG": "hostname"}})
    settings = schema.validate_settings({})
    text = kdumpconf.render("Debian", settings, DEBIAN, passthrough.for_file("Debian", "config", given))
    lines = text.splitlines()
    assert "KDUMP_NUM_DUMPS=3" in lines and 'HOSTTAG="hostname"' in lines
    assert not any(line.startswith("KDUMP_KERNEL=") for line in lines)
    assert "KDUMP_INITRD=/var/lib/kdump/initrd.img" in lines  # not given: untouched
    # only the given lines differ from the render without passthrough
    plain = kdumpconf.render("Debian", settings, DEBIAN).splitlines()
    assert [line for line in plain if line not in lines] == ["KDUMP_KERNEL=/var/lib/kdump/vmlinuz"]
    assert [line for line in lines if line not in plain] == ["KDUMP_NUM_DUMPS=3", 'HOSTTAG="hostname"']
    assert kdumpconf.render("Debian", settings, text, passthrough.for_file("Debian", "config", given)) == text


def test_cmdline_append_keeps_the_distributions_words_first():
    assert passthrough.cmdline_append("irqpoll nr_cpus=1", "panic=10 console=ttyS0") == "irqpoll nr_cpus=1 panic=10 console=ttyS0"
    assert passthrough.cmdline_append("irqpoll panic=10", "panic=10") == "irqpoll panic=10"
    assert passthrough.cmdline_append("irqpoll", None) == "irqpoll"
    assert passthrough.cmdline_append(None, None) is None
    assert passthrough.cmdline_append(None, "panic=10") == "panic=10"
    assert passthrough.cmdline_append("", None) == ""


def test_rhel_sysconfig_edits_only_its_variables_in_place():
    append = passthrough.cmdline_append(RHEL_APPEND, "console=ttyS0,115200")
    text = kdumpconf.render_sysconfig(RHEL_SYSCONFIG, append, {"KEXEC_ARGS": "-s --elf64-core-headers"})
    before, after = RHEL_SYSCONFIG.splitlines(), text.splitlines()
    assert len(before) == len(after)
    changed = [(old, new) for old, new in zip(before, after) if old != new]
    assert changed == [
        (f'KDUMP_COMMANDLINE_APPEND="{RHEL_APPEND}"', f'KDUMP_COMMANDLINE_APPEND="{RHEL_APPEND} console=ttyS0,115200"'),
        ('KEXEC_ARGS="-s"', 'KEXEC_ARGS="-s --elf64-core-headers"'),
    ]
    assert kdumpconf.render_sysconfig(text, append, {"KEXEC_ARGS": "-s --elf64-core-headers"}) == text
    # back to the distribution's value: the file as shipped
    assert kdumpconf.render_sysconfig(text, RHEL_APPEND, {"KEXEC_ARGS": "-s"}) == RHEL_SYSCONFIG


def test_rhel_sysconfig_untouched_without_wishes():
    assert kdumpconf.render_sysconfig(RHEL_SYSCONFIG, RHEL_APPEND, {}) == RHEL_SYSCONFIG
    assert kdumpconf.render_sysconfig("", None, {}) == ""


# ----------------------------------------------------------------- sourcing with a real shell

TOKEN = st.text(alphabet=st.sampled_from(list("abcXYZ019_.+,@%:=/-")), min_size=1, max_size=8).filter(
    lambda token: not token.startswith("-") or len(token) > 1
)
ARGS = st.lists(TOKEN, min_size=1, max_size=4).map(" ".join)
SHELL_KEYS = st.fixed_dictionaries(
    {
        "KDUMP_KEXEC_ARGS": ARGS,
        "KDUMP_CMDLINE": ARGS,
        "KDUMP_NUM_DUMPS": st.integers(0, 10**6),
        "NFS_TIMEO": st.integers(1, 6000),
        "HOSTTAG": st.sampled_from(["hostname", "ip"]),
        "KDUMP_COMPRESSION": st.sampled_from(["bzip2", "gzip", "lz4", "xz"]),
        "KDUMP_KERNEL": TOKEN.map(lambda token: "/boot/" + token.replace("/", "_").strip(".") + "x"),
    }
)


def sourced(shell, directory, text, names):
    path = directory / "conf"
    path.write_text(text)
    script = ". ./conf; " + " ".join(f'printf "%s\\0" "${name}";' for name in names)
    proc = subprocess.run([shell, "-c", script], cwd=directory, capture_output=True, check=True,
                          env={"PATH": os.environ["PATH"], "LC_ALL": "C"})
    return dict(zip(names, proc.stdout.decode().split("\0")))


@pytest.mark.skipif(not SHELLS, reason="no /bin/sh")
@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=SHELL_KEYS)
def test_debian_passthrough_sources_to_exactly_the_values(tmp_path, values):
    given = passthrough.validate({"kdump_tools": values})["kdump_tools"]
    text = kdumpconf.render("Debian", schema.validate_settings({}), DEBIAN, given)
    for shell in SHELLS:
        assert sourced(shell, tmp_path, text, list(given)) == given


@pytest.mark.skipif(not SHELLS, reason="no /bin/sh")
@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(append=ARGS, kexec=ARGS, remove=ARGS)
def test_rhel_sysconfig_sources_to_exactly_the_values(tmp_path, append, kexec, remove):
    settings = schema.validate_settings({"capture_cmdline_append": append})
    given = passthrough.validate({"sysconfig": {"KEXEC_ARGS": kexec, "KDUMP_COMMANDLINE_REMOVE": remove}})["sysconfig"]
    wanted = passthrough.cmdline_append(RHEL_APPEND, settings["capture_cmdline_append"])
    text = kdumpconf.render_sysconfig(RHEL_SYSCONFIG, wanted, given)
    for shell in SHELLS:
        got = sourced(shell, tmp_path, text, ["KDUMP_COMMANDLINE_APPEND", "KEXEC_ARGS", "KDUMP_COMMANDLINE_REMOVE", "KDUMP_IMG"])
        assert got == {"KDUMP_COMMANDLINE_APPEND": wanted, "KDUMP_IMG": "vmlinuz", **given}
        assert got["KDUMP_COMMANDLINE_APPEND"].startswith(RHEL_APPEND)
