"""kdumplib.schema: every bad pillar value is refused with its key path in the message."""

import pytest

from kdumplib import schema


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
    with pytest.raises(ValueError) as err:
        schema.validate_settings(settings)
    message = str(err.value)
    assert message.startswith(key + ":"), message
    assert reason in message


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
    with pytest.raises(ValueError) as err:
        schema.validate_pillar(pillar)
    message = str(err.value)
    assert message.startswith(key + ":"), message
    assert reason in message


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
