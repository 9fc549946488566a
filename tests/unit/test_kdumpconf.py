"""kdumplib.kdumpconf: each family's file rendered from the neutral settings, parsed back,
with every line we do not manage kept byte for byte."""

import copy
import pathlib
from unittest.mock import patch

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from kdumplib import kdumpconf, schema

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "kdumpconf"
SEED = (FIXTURES / "rhel6-seed-kdump.conf").read_text()
DEBIAN = (FIXTURES / "debian12-kdump-tools").read_text()
SUSE = (FIXTURES / "suse-sysconfig-kdump").read_text()
FAMILY_FIXTURES = {"RedHat": SEED, "Debian": DEBIAN, "Suse": SUSE}


def changed_lines(old, new):
    old_lines, new_lines = old.splitlines(), new.splitlines()
    assert len(old_lines) == len(new_lines)
    return [(a, b) for a, b in zip(old_lines, new_lines) if a != b]


# ---------------------------------------------------------------- the seed's file


def test_seed_parses_into_neutral_settings():
    settings = kdumpconf.parse("RedHat", SEED)
    assert settings["target"]["type"] == "device"
    assert settings["target"]["fstype"] == "ext3"
    assert settings["target"]["device"] == "/dev/mapper/rootvg-crashlv"
    assert settings["target"]["path"] == "/var/crash"
    assert settings["collector"] == {"dump_level": 20, "compression": "zlib", "extra_args": ""}


def test_seed_renders_back_unchanged():
    assert kdumpconf.render("RedHat", kdumpconf.parse("RedHat", SEED), SEED) == SEED


def test_seed_dump_level_change_touches_only_that_line():
    settings = kdumpconf.parse("RedHat", SEED)
    settings["collector"]["dump_level"] = 31
    new = kdumpconf.render("RedHat", settings, SEED)
    assert changed_lines(SEED, new) == [
        ("core_collector makedumpfile -c -d 20", "core_collector makedumpfile -c -d 31")
    ]


def test_seed_target_change_rewrites_target_in_place():
    settings = kdumpconf.parse("RedHat", SEED)
    settings["target"].update(fstype="xfs")
    new = kdumpconf.render("RedHat", settings, SEED)
    assert changed_lines(SEED, new) == [("ext3 /dev/mapper/rootvg-crashlv", "xfs /dev/mapper/rootvg-crashlv")]


# ---------------------------------------------------------------- RedHat directives


def redhat(settings, existing=""):
    return kdumpconf.render("RedHat", schema.validate_settings(settings), existing)


def test_redhat_full_render_from_empty():
    text = redhat({
        "target": {"type": "nfs", "host": "nfs.example.com:/export/dumps", "path": "/crash"},
        "collector": {"dump_level": "11,31", "compression": "lzo", "extra_args": "--message-level 7"},
        "failure_action": "shell",
        "initrd": {"extra_args": "--add-drivers virtio_blk", "extra_modules": ["gfs2", "nfsv4"]},
        "hooks": {"pre": "/usr/local/bin/pre.sh", "post": "/usr/local/bin/post.sh"},
    })
    assert text.splitlines() == [
        "nfs nfs.example.com:/export/dumps",
        "path /crash",
        "core_collector makedumpfile -l --message-level 7 -d 11,31",
        "failure_action shell",
        "dracut_args --add-drivers virtio_blk",
        "extra_modules gfs2 nfsv4",
        "kdump_pre /usr/local/bin/pre.sh",
        "kdump_post /usr/local/bin/post.sh",
    ]


@pytest.mark.parametrize(
    "target, lines",
    [
        ({"type": "ssh", "host": "dump.example.com", "user": "kdump", "sshkey": "/root/.ssh/kdump_id_rsa"},
         ["ssh kdump@dump.example.com", "sshkey /root/.ssh/kdump_id_rsa", "core_collector makedumpfile -c -F -d 31"]),
        ({"type": "raw", "device": "/dev/sdb1"}, ["raw /dev/sdb1", "core_collector makedumpfile -c -F -d 31"]),
        ({"type": "device", "device": "UUID=1234-abcd", "fstype": "ext4"}, ["ext4 UUID=1234-abcd", "core_collector makedumpfile -c -d 31"]),
        ({"type": "local"}, ["core_collector makedumpfile -c -d 31"]),
    ],
)
def test_redhat_targets(target, lines):
    assert redhat({"target": target}).splitlines() == lines


@pytest.mark.parametrize("compression, flag", [("zlib", "-c "), ("lzo", "-l "), ("snappy", "-p "), ("zstd", "-z "), ("none", "")])
def test_compression_flags(compression, flag):
    text = redhat({"collector": {"compression": compression}})
    assert f"core_collector makedumpfile {flag}-d 31" in text.splitlines()
    debian = kdumpconf.render("Debian", schema.validate_settings({"collector": {"compression": compression}}), DEBIAN)
    assert f'MAKEDUMP_ARGS="{flag}-d 31"' in debian.splitlines()


def test_redhat_keeps_default_keyword_and_drops_duplicates_and_stale_targets():
    existing = "# mine\nnfs old:/x\ndefault shell\npath /a\npath /b\nextra_bins /usr/bin/lftp\n"
    text = redhat({"failure_action": "halt", "target": {"path": "/b"}}, existing)
    assert text == "# mine\ndefault halt\npath /b\nextra_bins /usr/bin/lftp\ncore_collector makedumpfile -c -d 31\n"


def test_redhat_semantically_equal_collector_line_is_kept():
    existing = "core_collector makedumpfile -d 31 -c\n"
    assert redhat({}, existing) == existing


def test_redhat_capture_cmdline_append_is_not_a_kdump_conf_line():
    """It goes to /etc/sysconfig/kdump (render_sysconfig, tests/unit/test_passthrough.py)."""
    kdumpconf.check_supported("RedHat", schema.validate_settings({"capture_cmdline_append": "panic=10"}))
    assert redhat({"capture_cmdline_append": "panic=10"}) == redhat({})


def test_redhat_rejects_non_makedumpfile_collector():
    with pytest.raises(ValueError, match=r"^core_collector: 'cp --sparse=always'"):
        kdumpconf.parse("RedHat", "core_collector cp --sparse=always\n")


def test_redhat_round_trip_of_settings():
    wanted = schema.validate_settings({
        "target": {"type": "ssh", "host": "h.example", "user": "u", "sshkey": "/k", "path": "/d"},
        "collector": {"dump_level": [1, 31], "compression": "zstd", "extra_args": "--message-level 7"},
        "failure_action": "poweroff",
        "initrd": {"extra_args": "-o plymouth", "extra_modules": ["e1000"]},
        "hooks": {"pre": "/p", "post": "/q"},
    })
    assert kdumpconf.parse("RedHat", kdumpconf.render("RedHat", wanted, "")) == wanted


# ---------------------------------------------------------------- Debian


def test_debian_fixture_round_trip_and_change():
    settings = kdumpconf.parse("Debian", DEBIAN)
    assert settings["collector"] == {"dump_level": 31, "compression": "zlib", "extra_args": ""}
    assert kdumpconf.render("Debian", settings, DEBIAN) == DEBIAN
    settings["target"]["path"] = "/srv/crash"
    settings["capture_cmdline_append"] = "panic=10"
    assert changed_lines(DEBIAN, kdumpconf.render("Debian", settings, DEBIAN)) == [
        ('KDUMP_COREDIR="/var/crash"', 'KDUMP_COREDIR="/srv/crash"'),
        (
            f'KDUMP_CMDLINE_APPEND="{kdumpconf.DEBIAN_CMDLINE_APPEND_BASE}"',
            f'KDUMP_CMDLINE_APPEND="{kdumpconf.DEBIAN_CMDLINE_APPEND_BASE} panic=10"',
        ),
    ]


def test_debian_stock_disabled_file_gets_enabled_and_remote_targets():
    stock = DEBIAN.replace("USE_KDUMP=1", "USE_KDUMP=0")
    settings = schema.validate_settings({
        "target": {"type": "ssh", "host": "dump.example", "user": "kdump", "sshkey": "/root/.ssh/kdump_id_rsa"},
        "failure_action": "halt",
    })
    text = kdumpconf.render("Debian", settings, stock)
    lines = text.splitlines()
    assert "USE_KDUMP=1" in lines
    assert 'SSH="kdump@dump.example"' in lines
    assert 'SSH_KEY="/root/.ssh/kdump_id_rsa"' in lines
    assert 'KDUMP_FAIL_CMD="halt -f"' in lines
    assert '#NFS="<nfs mount>"' in lines
    parsed = kdumpconf.parse("Debian", text)
    assert parsed["target"] == settings["target"]
    assert parsed["failure_action"] == "halt"


@pytest.mark.parametrize(
    "settings, key",
    [
        ({"target": {"type": "raw", "device": "/dev/sdb"}}, "kdump:settings:target:type"),
        ({"failure_action": "shell"}, "kdump:settings:failure_action"),
        ({"initrd": {"extra_modules": ["e1000"]}}, "kdump:settings:initrd:extra_modules"),
        ({"hooks": {"pre": "/p"}}, "kdump:settings:hooks:pre"),
    ],
)
def test_debian_unsupported_settings_name_key_and_family(settings, key):
    with pytest.raises(ValueError) as err:
        kdumpconf.check_supported("Debian", schema.validate_settings(settings))
    assert str(err.value).startswith(key + ":") and "Debian" in str(err.value)


# ---------------------------------------------------------------- Suse


def test_suse_fixture_round_trip_and_render():
    settings = kdumpconf.parse("Suse", SUSE)
    assert kdumpconf.render("Suse", settings, SUSE) == SUSE
    wanted = schema.validate_settings({
        "target": {"type": "nfs", "host": "nfs.example:/export", "path": "/dumps"},
        "collector": {"dump_level": 1, "compression": "lzo"},
        "failure_action": "shell",
        "capture_cmdline_append": "panic=10",
    })
    text = kdumpconf.render("Suse", wanted, SUSE)
    assert [l for l in text.splitlines() if l.startswith("#")] == [l for l in SUSE.splitlines() if l.startswith("#")]
    assert text.splitlines()[-1] == 'KDUMP_CONTINUE_ON_ERROR="false"'
    lines = text.splitlines()
    for expected in (
        'KDUMP_SAVEDIR="nfs://nfs.example/export/dumps"',
        "KDUMP_DUMPLEVEL=1",
        'KDUMP_DUMPFORMAT="lzo"',
        'KDUMP_CONTINUE_ON_ERROR="false"',
        'KDUMP_COMMANDLINE_APPEND="panic=10"',
        "KDUMP_KEEP_OLD_DUMPS=5",
    ):
        assert expected in lines
    reparsed = kdumpconf.parse("Suse", text)
    assert reparsed["collector"] == wanted["collector"]
    assert kdumpconf.render("Suse", reparsed, text) == text


@pytest.mark.parametrize("compression, name", sorted(kdumpconf.SUSE_FORMATS.items()))
def test_suse_formats(compression, name):
    text = kdumpconf.render("Suse", schema.validate_settings({"collector": {"compression": compression}}), SUSE)
    assert f'KDUMP_DUMPFORMAT="{name}"' in text.splitlines()


def test_suse_retry_list_refused_naming_key_and_family():
    with pytest.raises(ValueError, match=r"^kdump:settings:collector:dump_level: \[11, 31\] cannot be expressed on Suse"):
        kdumpconf.check_supported("Suse", schema.validate_settings({"collector": {"dump_level": "11,31"}}))


def test_suse_ssh_savedir():
    settings = schema.validate_settings({"target": {"type": "ssh", "host": "h", "user": "u", "path": "/srv/d", "sshkey": "/root/.ssh/id"}})
    text = kdumpconf.render("Suse", settings, "")
    assert 'KDUMP_SAVEDIR="ssh://u@h/srv/d"' in text.splitlines()
    assert kdumpconf.parse("Suse", text)["target"] == settings["target"]


def test_unknown_family():
    with pytest.raises(ValueError, match=r"^os_family: 'Arch' is not supported"):
        kdumpconf.render("Arch", schema.validate_settings({}), "")


# ---------------------------------------------------------------- property: unmanaged lines survive

comment_lines = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(lambda s: "#" + s)
redhat_unknown = st.sampled_from(["extra_bins", "disk_timeout", "link_delay", "options", "fence_kdump_nodes", "sshkey_x"]).flatmap(
    lambda word: st.from_regex(r"[a-z0-9/_.]{1,12}", fullmatch=True).map(lambda v: f"{word} {v}")
)
shell_unknown = st.from_regex(r"(HOSTTAG|KDUMP_NUM_DUMPS|KDUMP_SYSCTL|KDUMP_CPUS|MY_VAR)=[a-z0-9]{0,8}", fullmatch=True)
blank = st.sampled_from(["", "   "])


UNMANAGED = {
    "RedHat": st.one_of(comment_lines, blank, redhat_unknown),
    "Debian": st.one_of(comment_lines, blank, shell_unknown),
    "Suse": st.one_of(comment_lines, blank, shell_unknown),
}


@hsettings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    family=st.sampled_from(sorted(FAMILY_FIXTURES)),
    dump_level=st.integers(min_value=0, max_value=31),
    compression=st.sampled_from(schema.COMPRESSIONS),
)
def test_unmanaged_lines_survive_render(data, family, dump_level, compression):
    lines = FAMILY_FIXTURES[family].splitlines()
    inserted = data.draw(st.lists(UNMANAGED[family], max_size=8))
    for line in inserted:
        lines.insert(data.draw(st.integers(min_value=0, max_value=len(lines))), line)
    text = "\n".join(lines) + "\n"
    settings = kdumpconf.parse(family, text)
    assert kdumpconf.render(family, settings, text) == text
    changed = copy.deepcopy(settings)
    changed["collector"].update(dump_level=dump_level, compression=compression)
    new = kdumpconf.render(family, changed, text)
    new_lines = new.splitlines()
    for line in inserted:
        assert new_lines.count(line) == lines.count(line), line
    reparsed = kdumpconf.parse(family, new)
    assert reparsed["collector"]["dump_level"] == dump_level
    assert reparsed["collector"]["compression"] == compression


# ---------------------------------------------------------------- adding a config key


def _suse_with_makedumpfile_options():
    """Suse's MAKEDUMPFILE_OPTIONS added as docs/architecture.md says ("How to add a config
    key"): one Key in the family's layout, and the setting no longer refused there."""

    suse = kdumpconf.LAYOUTS["Suse"]

    def refuse(settings):
        suse.refuse({**settings, "collector": {**settings["collector"], "extra_args": ""}})

    key = kdumpconf.Key(
        "MAKEDUMPFILE_OPTIONS",
        kdumpconf.setting("collector:extra_args"),
        kdumpconf.into("collector:extra_args"),
        default="",
    )
    return kdumpconf.Layout(suse.keys + (key,), refuse)


def test_an_added_key_is_rendered_and_parsed_with_no_other_change():
    wanted = schema.validate_settings({"collector": {"extra_args": "--message-level 7"}})
    with pytest.raises(ValueError, match="^kdump:settings:collector:extra_args: .*Suse"):
        kdumpconf.check_supported("Suse", wanted)
    with patch.dict(kdumpconf.LAYOUTS, {"Suse": _suse_with_makedumpfile_options()}):
        kdumpconf.check_supported("Suse", wanted)
        text = kdumpconf.render("Suse", wanted, SUSE)
        assert changed_lines(SUSE, text.replace('MAKEDUMPFILE_OPTIONS="--message-level 7"\n', "")) == []
        assert text.splitlines()[-1] == 'MAKEDUMPFILE_OPTIONS="--message-level 7"'
        assert kdumpconf.parse("Suse", text)["collector"]["extra_args"] == "--message-level 7"
        # its default: absent means "", and "" is not written into a file that lacks it
        assert kdumpconf.parse("Suse", SUSE)["collector"]["extra_args"] == ""
        assert kdumpconf.render("Suse", kdumpconf.parse("Suse", SUSE), SUSE) == SUSE
        # an existing line is edited where it stands
        edited = kdumpconf.render("Suse", schema.validate_settings({}), "MAKEDUMPFILE_OPTIONS=\"-x\"\n# end\n")
        assert edited.splitlines()[:2] == ['MAKEDUMPFILE_OPTIONS=""', "# end"]
    # without the declaration the line is not ours: kept as it is, not read
    assert kdumpconf.render("Suse", kdumpconf.parse("Suse", SUSE), text) == text
    assert kdumpconf.parse("Suse", text)["collector"]["extra_args"] == ""


def test_every_key_default_round_trips():
    """The default a key declares is what parse reads when the entry is absent, and what
    render leaves out: an empty file parsed and rendered stays free of implied entries."""
    for os_family, layout in kdumpconf.LAYOUTS.items():
        names = [name for key in layout.keys for name in key.names()]
        assert len(names) == len(set(names)), os_family
        parsed = kdumpconf.parse(os_family, "")
        text = kdumpconf.render(os_family, parsed, "")
        written = {entry[0] for _line, entry in kdumpconf._entries(kdumpconf.OS_FAMILIES[os_family]["format"], text) if entry}
        for key in layout.keys:
            if key.name in written:
                assert key.always or key.default is None or not key.implied(key.write(parsed)), key.name
        assert kdumpconf.parse(os_family, text) == parsed
