"""kdumplib.schema: every bad pillar value is refused with its key path in the message."""

import pytest

from kdumplib import schema


def assert_refused(validate, data, key, reason):
    """``validate(data)`` raises a ValueError whose first line names ``key`` and gives ``reason``."""
    with pytest.raises(ValueError) as err:
        validate(data)
    message = str(err.value)
    assert message.startswith(key + ":"), message
    assert reason in message


def test_defaults_filled_for_empty_settings():
    settings = schema.validate_settings({})
    assert settings["target"] == {
        "type": "local", "device": None, "fstype": None, "host": None,
        "user": None, "sshkey": None, "path": "/var/crash",
    }
    assert settings["collector"] == {"dump_level": 31, "compression": "zlib", "extra_args": ""}
    assert settings["failure_action"] == "reboot"


@pytest.mark.parametrize(
    "value, expected",
    [(0, 0), (31, 31), ("20", 20), ("11,31", [11, 31]), ([11, 31], [11, 31]), ([7], 7)],
)
def test_dump_level_forms(value, expected):
    assert schema.validate_settings({"collector": {"dump_level": value}})["collector"]["dump_level"] == expected


@pytest.mark.parametrize(
    "settings, key, reason",
    [
        ({"collector": {"dump_level": 40}}, "kdump:settings:collector:dump_level", "out of range 0-31"),
        ({"collector": {"dump_level": -1}}, "kdump:settings:collector:dump_level", "out of range"),
        ({"collector": {"dump_level": "x"}}, "kdump:settings:collector:dump_level", "not a dump level"),
        ({"collector": {"dump_level": True}}, "kdump:settings:collector:dump_level", "not a dump level"),
        ({"collector": {"dump_level": "31,31"}}, "kdump:settings:collector:dump_level", "repeats"),
        ({"collector": {"compression": "gzip"}}, "kdump:settings:collector:compression", "not one of"),
        ({"collector": {"extra_args": "-d 1"}}, "kdump:settings:collector:extra_args", "-d is set by"),
        ({"collector": {"level": 1}}, "kdump:settings:collector:level", "unknown key"),
        ({"colector": {}}, "kdump:settings:colector", "unknown key"),
        ({"target": "local"}, "kdump:settings:target", "expected a mapping"),
        ({"target": {"type": "tape"}}, "kdump:settings:target:type", "not one of"),
        ({"target": {"path": "var/crash"}}, "kdump:settings:target:path", "not an absolute path"),
        ({"target": {"path": 5}}, "kdump:settings:target:path", "expected a string"),
        ({"target": {"type": "nfs"}}, "kdump:settings:target:host", "required when type is nfs"),
        ({"target": {"type": "nfs", "host": "srv"}}, "kdump:settings:target:host", "server:/export"),
        ({"target": {"type": "ssh", "host": "h"}}, "kdump:settings:target:user", "required when type is ssh"),
        ({"target": {"type": "device", "fstype": "ext4"}}, "kdump:settings:target:device", "required when type is device"),
        ({"target": {"type": "device", "device": "/dev/sdb1"}}, "kdump:settings:target:fstype", "required"),
        ({"target": {"type": "raw"}}, "kdump:settings:target:device", "required when type is raw"),
        ({"target": {"type": "raw", "device": "sdb"}}, "kdump:settings:target:device", "not /dev/"),
        ({"target": {"device": "/dev/sdb"}}, "kdump:settings:target:device", "does not apply to a local"),
        ({"target": {"type": "ssh", "host": "h", "user": "u", "sshkey": "id"}}, "kdump:settings:target:sshkey", "absolute"),
        ({"target": {"type": "device", "device": "/dev/sdb", "fstype": "ntfs"}}, "kdump:settings:target:fstype", "not one of"),
        ({"failure_action": "explode"}, "kdump:settings:failure_action", "not one of"),
        ({"initrd": {"extra_modules": [1]}}, "kdump:settings:initrd:extra_modules", "list of module names"),
        ({"hooks": {"pre": "pre.sh"}}, "kdump:settings:hooks:pre", "not an absolute path"),
        ({"capture_cmdline_append": 3}, "kdump:settings:capture_cmdline_append", "expected a string"),
    ],
)
def test_bad_settings_name_the_key(settings, key, reason):
    assert_refused(schema.validate_settings, settings, key, reason)


@pytest.mark.parametrize(
    "pillar, key, reason",
    [
        ({"bogus": 1}, "kdump:bogus", "unknown key"),
        ({"enabled": "yes"}, "kdump:enabled", "true or false"),
        ({"crashkernel": {"value": "128M 256M"}}, "kdump:crashkernel:value", "not a crashkernel"),
        ({"crashkernel": {"require_reboot": "maybe"}}, "kdump:crashkernel:require_reboot", "not one of"),
        ({"volume": {"vg": "rootvg", "lv": "crashlv", "size": 0}}, "kdump:volume:size", "0 is not a usable size"),
        ({"volume": {"vg": "rootvg", "lv": "crashlv", "size": "0M"}}, "kdump:volume:size", "0 is not a usable size"),
        ({"volume": {"vg": "rootvg", "lv": "crashlv", "size": -5}}, "kdump:volume:size", "negative"),
        ({"volume": {"vg": "rootvg", "lv": "crashlv", "size": "lots"}}, "kdump:volume:size", "not a size"),
        ({"volume": {"vg": "rootvg", "lv": "crashlv", "size": "100T"}}, "kdump:volume:size", "surely a typo"),
        ({"volume": {"vg": "rootvg", "lv": "crashlv", "size": "0%RAM"}}, "kdump:volume:size", "1-100"),
        ({"volume": {"vg": "root vg", "lv": "crashlv"}}, "kdump:volume:vg", "not an LVM name"),
        ({"volume": {"vg": "rootvg", "lv": "crashlv", "fstype": "vfat"}}, "kdump:volume:fstype", "not one of"),
        ({"volume": {"vg": "rootvg", "lv": "crashlv", "mount_at_boot": True}}, "kdump:volume:mountpoint", "required when mount_at_boot"),
        ({"volume": {"vg": "rootvg", "lv": "crashlv", "mountpoint": "crash"}}, "kdump:volume:mountpoint", "absolute"),
        ({"retention": {"keep": 0}}, "kdump:retention:keep", "at least 1"),
        ({"sysctl": {"panic": 1}}, "kdump:sysctl:panic", "not a sysctl name"),
        ({"sysctl": {"kernel.panic": [1]}}, "kdump:sysctl:kernel.panic", "not a number, a string or null"),
        ({"settings": {"collector": {"dump_level": 32}}}, "kdump:settings:collector:dump_level", "out of range"),
        ({"purge_target": 1}, "kdump:purge_target", "true or false"),
    ],
)
def test_bad_pillar_names_the_key(pillar, key, reason):
    assert_refused(schema.validate_pillar, pillar, key, reason)


@pytest.mark.parametrize("size, expected", [("auto", "auto"), ("4G", "4G"), ("1000M", "1000M"), ("10%RAM", "10%RAM"), (1 << 30, "1G")])
def test_volume_sizes(size, expected):
    pillar = schema.validate_pillar({"volume": {"vg": "rootvg", "lv": "crashlv", "size": size}})
    assert pillar["volume"]["size"] == expected


def test_whole_pillar_defaults_and_volume_devices():
    pillar = schema.validate_pillar({"volume": {"vg": "root-vg", "lv": "crashlv", "mountpoint": "/var/crash", "mount_at_boot": True}})
    assert pillar["enabled"] is True and pillar["space_check"] is True
    assert pillar["retention"] == {"keep": 3}
    assert schema.volume_devices(pillar["volume"]) == ["/dev/root-vg/crashlv", "/dev/mapper/root--vg-crashlv"]
    assert schema.validate_pillar({})["volume"] is None


def test_sysctl_null_leaves_a_key_alone():
    pillar = schema.validate_pillar({"sysctl": {"kernel.panic_on_oops": None, "kernel.panic": "30"}})
    assert pillar["sysctl"] == {"kernel.panic_on_oops": None, "kernel.panic": "30"}


# ---------------------------------------------------------------- every error at once


def test_every_error_is_reported_at_once_each_line_naming_its_key():
    pillar = {
        "crashkernel": {"value": "128Q"},
        "settings": {
            "target": {"path": "/var/crash;reboot"},
            "collector": {"dump_level": 40, "extra_args": "--x $(id)"},
            "initrd": {"extra_modules": ["ok", "bad;mod"]},
        },
        "volume": {"vg": "-vg", "lv": "crashlv", "size": "lots"},
        "sysctl": {"kernel.panic": "1; reboot"},
        "lookup": {"service": "kdump;rm"},
        "colour": "blue",
    }
    with pytest.raises(ValueError) as err:
        schema.validate_pillar(pillar)
    lines = str(err.value).splitlines()
    keys = [line.split(": ", 1)[0] for line in lines]
    assert keys == [
        "kdump:colour",
        "kdump:lookup:service",
        "kdump:crashkernel:value",
        "kdump:settings:target:path",
        "kdump:settings:collector:dump_level",
        "kdump:settings:collector:extra_args",
        "kdump:settings:initrd:extra_modules",
        "kdump:volume:vg",
        "kdump:volume:size",
        "kdump:sysctl:kernel.panic",
    ], lines


def test_settings_errors_are_all_reported_too():
    with pytest.raises(ValueError) as err:
        schema.validate_settings({"failure_action": "explode", "hooks": {"pre": "x", "post": "/a b"}})
    assert [line.split(": ", 1)[0] for line in str(err.value).splitlines()] == [
        "kdump:settings:failure_action", "kdump:settings:hooks:pre", "kdump:settings:hooks:post",
    ]


def test_a_clean_pillar_has_an_empty_report():
    pillar, report = schema.check_pillar({"settings": {"target": {"type": "ssh", "host": "dumps.example.com", "user": "kdump"}}})
    assert report.errors == [] and pillar["settings"]["target"]["user"] == "kdump"


# ---------------------------------------------------------------- strict grammars

SHELL_TRAPS = ["$(touch /tmp/x)", "`id`", "a;b", "a b", "a\nb", "a|b", "a&b", "a>b", "'q'", '"q"', "a\\b", "*", "~root"]


# Blanks separate arguments and quotes or backslashes only quote: harmless in argument strings.
HARMLESS_IN_ARGUMENTS = ("a b", "a\nb", "'q'", '"q"', "a\\b")


@pytest.mark.parametrize("trap", SHELL_TRAPS)
@pytest.mark.parametrize(
    "where",
    [
        lambda v: {"settings": {"target": {"path": "/var/" + v}}},
        lambda v: {"settings": {"target": {"type": "ssh", "host": "h" + v, "user": "u"}}},
        lambda v: {"settings": {"target": {"type": "ssh", "host": "h", "user": "u" + v}}},
        lambda v: {"settings": {"target": {"type": "ssh", "host": "h", "user": "u", "sshkey": "/k" + v}}},
        lambda v: {"settings": {"target": {"type": "nfs", "host": "srv:/exp" + v}}},
        lambda v: {"settings": {"target": {"type": "raw", "device": "/dev/sd" + v}}},
        lambda v: {"settings": {"hooks": {"post": "/usr/bin/x" + v}}},
        lambda v: {"settings": {"initrd": {"extra_modules": ["e1000" + v]}}},
        lambda v: {"volume": {"vg": "vg", "lv": "lv", "mountpoint": "/m" + v}},
        lambda v: {"lookup": {"config_file": "/etc/kdump" + v}},
        lambda v: {"lookup": {"service": "kdump" + v}},
        lambda v: {"lookup": {"pkgs": ["kexec-tools" + v]}},
    ],
)
def test_shell_metacharacters_are_refused_everywhere(where, trap):
    with pytest.raises(ValueError):
        schema.validate_pillar(where(trap))


@pytest.mark.parametrize("trap", [t for t in SHELL_TRAPS if t not in HARMLESS_IN_ARGUMENTS])
@pytest.mark.parametrize(
    "where",
    [
        lambda v: {"settings": {"collector": {"extra_args": "--num-threads " + v}}},
        lambda v: {"settings": {"initrd": {"extra_args": "--add " + v}}},
        lambda v: {"settings": {"capture_cmdline_append": "panic=10 " + v}},
        lambda v: {"sysctl": {"kernel.panic": "1" + v}},
    ],
)
def test_argument_tokens_with_metacharacters_are_refused(where, trap):
    """Blanks only separate arguments here; every token must still be plain."""
    with pytest.raises(ValueError):
        schema.validate_pillar(where(trap))


def test_a_sysctl_value_holds_no_line_break():
    with pytest.raises(ValueError, match="^kdump:sysctl:kernel.panic: "):
        schema.validate_pillar({"sysctl": {"kernel.panic": "1\n2"}})


@pytest.mark.parametrize(
    "pillar",
    [
        {"settings": {"target": {"type": "nfs", "host": "nfs.example.com:/export/dumps"}}},
        {"settings": {"target": {"type": "nfs", "host": "192.0.2.7:/dumps"}}},
        {"settings": {"target": {"type": "nfs", "host": "[2001:db8::7]:/dumps"}}},
        {"settings": {"target": {"type": "ssh", "host": "2001:db8::7", "user": "kdump_1.x"}}},
        {"settings": {"target": {"type": "device", "device": "UUID=0a1b-2c3d", "fstype": "xfs"}}},
        {"settings": {"collector": {"extra_args": "--num-threads 2 --message-level=7"}}},
        {"settings": {"capture_cmdline_append": "panic=10 console=ttyS0,115200"}},
        {"settings": {"initrd": {"extra_modules": "e1000e virtio_net"}}},
        {"sysctl": {"kernel.printk": "4 4 1 7", "kernel.panic": -1}},
        {"lookup": {"pkgs": ["kexec-tools", "libstdc++6:amd64"], "service": "kdump-tools.service",
                    "config_file": "/etc/default/kdump-tools", "sysctl_file": "/etc/sysctl.d/90-k.conf",
                    "sysctl_saved_file": "/var/lib/k/before.conf"}},
        {"crashkernel": {"value": "1G-4G:192M,4G-:512M"}},
        {"crashkernel": {"value": "512M,high"}},
        {"crashkernel": {"value": "measured"}},
    ],
)
def test_real_values_pass(pillar):
    schema.validate_pillar(pillar)


@pytest.mark.parametrize(
    "pillar, key, reason",
    [
        ({"crashkernel": {"value": "lots"}}, "kdump:crashkernel:value", "not a crashkernel= value"),
        ({"crashkernel": {"value": "Measured"}}, "kdump:crashkernel:value", "or auto, or measured"),
        ({"crashkernel": {"value": "0M"}}, "kdump:crashkernel:value", "zero size"),
        ({"crashkernel": {"value": "2G-1G:128M"}}, "kdump:crashkernel:value", "start >= end"),
        ({"settings": {"target": {"path": "/var/../etc"}}}, "kdump:settings:target:path", ".. component"),
        ({"settings": {"target": {"type": "ssh", "host": "-h", "user": "u"}}}, "kdump:settings:target:host", "RFC 1123"),
        ({"settings": {"target": {"type": "ssh", "host": "a" * 64 + ".com", "user": "u"}}}, "kdump:settings:target:host", "RFC 1123"),
        ({"settings": {"target": {"type": "ssh", "host": "h", "user": "1root"}}}, "kdump:settings:target:user", "not a user name"),
        ({"settings": {"target": {"type": "nfs", "host": "[nope]:/x"}}}, "kdump:settings:target:host", "IPv6"),
        ({"settings": {"target": {"type": "ssh", "host": "fe80::1%;reboot", "user": "u"}}}, "kdump:settings:target:host", "no %scope"),
        ({"settings": {"target": {"type": "nfs", "host": "[fe80::1%$(id)]:/x"}}}, "kdump:settings:target:host", "no %scope"),
        ({"settings": {"collector": {"extra_args": "--x 'unclosed"}}}, "kdump:settings:collector:extra_args", "cannot be split"),
        ({"settings": {"collector": {"extra_args": "--x 'a b'"}}}, "kdump:settings:collector:extra_args", "not a plain argument"),
        ({"volume": {"vg": "rootvg", "lv": "snapshot1"}}, "kdump:volume:lv", "reserves"),
        ({"volume": {"vg": "rootvg", "lv": ".."}}, "kdump:volume:lv", "not an LVM name"),
        ({"lookup": {"pkg": ["x"]}}, "kdump:lookup:pkg", "unknown key"),
        ({"lookup": {"pkgs": "kexec-tools"}}, "kdump:lookup:pkgs", "list of package names"),
        ({"lookup": {"config_file": "etc/kdump.conf"}}, "kdump:lookup:config_file", "absolute"),
        ({"lookup": "x"}, "kdump:lookup", "expected a mapping"),
    ],
)
def test_grammar_errors_name_the_key(pillar, key, reason):
    assert_refused(schema.validate_pillar, pillar, key, reason)


def test_argument_strings_are_normalized_to_single_spaces():
    settings = schema.validate_settings({"collector": {"extra_args": "  --num-threads   2 "}, "capture_cmdline_append": " panic=10  "})
    assert settings["collector"]["extra_args"] == "--num-threads 2"
    assert settings["capture_cmdline_append"] == "panic=10"


def test_the_lvm_name_rule_is_one_rule():
    from kdumplib import dumpvolume

    assert dumpvolume.check_lvm_name is schema.check_lvm_name


def test_lookup_flags_and_lvm_packages_are_checked():
    with pytest.raises(ValueError) as err:
        schema.validate_pillar(
            {"lookup": {"lvm_pkgs": ["lvm2;reboot"], "service_starts_unreserved": "yes"}}
        )
    assert "kdump:lookup:lvm_pkgs:" in str(err.value)
    assert "kdump:lookup:service_starts_unreserved:" in str(err.value)
    normalized = schema.validate_pillar({"lookup": {"lvm_pkgs": [], "service_sets_panic_on_oops": False}})
    assert normalized["lookup"] == {"lvm_pkgs": [], "service_sets_panic_on_oops": False}


def test_crashkernel_defaults_pair_scope_and_manage():
    crash = schema.validate_pillar({})["crashkernel"]
    assert (crash["manage"], crash["value"], crash["low"], crash["scope"]) == (True, "auto", None, "all")
    crash = schema.validate_pillar({"crashkernel": {"value": "512M,high", "low": "256m", "scope": "default"}})["crashkernel"]
    assert (crash["value"], crash["low"], crash["scope"]) == ("512M,high", "256M", "default")
    assert schema.validate_pillar({"crashkernel": {"default_entry_only": True}})["crashkernel"]["scope"] == "default"
    assert schema.validate_pillar({"crashkernel": {"manage": False}})["crashkernel"]["manage"] is False


def test_crashkernel_errors_name_each_key_at_once():
    with pytest.raises(ValueError) as info:
        schema.validate_pillar({"crashkernel": {
            "manage": "no", "value": "512M", "low": "256M", "scope": "every", "require_reboot": "later",
        }})
    lines = str(info.value).splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [
        "kdump:crashkernel:manage", "kdump:crashkernel:low", "kdump:crashkernel:scope",
        "kdump:crashkernel:require_reboot",
    ]
    assert "goes only with kdump:crashkernel:value X,high" in lines[1]
    for pillar, key, reason in [
        ({"value": "256M,low"}, "kdump:crashkernel:value", "a ,low value alone reserves nothing"),
        ({"value": "512M,high", "low": "lots"}, "kdump:crashkernel:low", "is not a ,low size"),
        ({"scope": "all", "default_entry_only": True}, "kdump:crashkernel:scope", "contradicts default_entry_only"),
    ]:
        with pytest.raises(ValueError) as info:
            schema.validate_pillar({"crashkernel": pillar})
        assert str(info.value).startswith(key + ": ") and reason in str(info.value)
