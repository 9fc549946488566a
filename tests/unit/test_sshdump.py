"""kdumplib.sshdump: key types per family, public key lines, host key choice, sshd options."""

import base64
import struct

import pytest

from kdumplib import schema, sshdump


def _line(enc, comment="kdump@web1", blob_enc=None):
    name = (blob_enc or enc).encode()
    blob = base64.b64encode(struct.pack(">I", len(name)) + name + b"\x00" * 32).decode()
    return f"{enc} {blob} {comment}".strip()


@pytest.mark.parametrize("family, release, fips, expected", [
    ("Debian", 12, False, "ed25519"),
    ("Debian", 7, False, "rsa"),
    ("RedHat", 9, False, "ed25519"),
    ("RedHat", 9, True, "rsa"),      # OpenSSH refuses ed25519 in FIPS mode
    ("RedHat", 6, False, "rsa"),     # OpenSSH 5.3
    ("Suse", 15, False, "ed25519"),
    ("Suse", 11, False, "rsa"),
    ("Debian", None, False, "ed25519"),  # release unknown: the family's current kdump
])
def test_auto_key_type_follows_the_family_kdump_ssh_client(family, release, fips, expected):
    kind, reason = sshdump.key_type(family, release, fips)
    assert kind == expected and reason


def test_an_explicit_ed25519_the_host_cannot_use_names_the_key():
    with pytest.raises(ValueError, match=r"^kdump:ssh:key_type: ed25519 cannot be used here: FIPS"):
        sshdump.key_type("RedHat", 9, True, "ed25519")
    assert sshdump.key_type("RedHat", 9, True, "rsa")[0] == "rsa"
    with pytest.raises(ValueError, match="no known kdump ssh client"):
        sshdump.key_type("Windows", 11)


def test_parse_public_key_checks_the_blob_names_its_algorithm():
    assert sshdump.parse_public_key(_line("ssh-ed25519")) == {
        "enc": "ssh-ed25519", "key": _line("ssh-ed25519").split()[1], "comment": "kdump@web1"}
    assert sshdump.parse_public_key(_line("ssh-rsa", comment=""))["comment"] == ""
    for bad, why in [
        ("", "expected an OpenSSH public key line"),
        ("ssh-dss AAAA", "is not an OpenSSH public key"),
        ("ssh-ed25519 not*base64", "not valid base64"),
        (_line("ssh-ed25519", blob_enc="ssh-rsa"), "is not an ssh-ed25519 key"),
    ]:
        with pytest.raises(ValueError, match=f"^mine of web1: .*{why}"):
            sshdump.parse_public_key(bad, "mine of web1")


def test_pick_host_key_prefers_ed25519_and_refuses_nothing_published():
    keys = {"rsa.pub": _line("ssh-rsa", "root@dump"), "ed25519.pub": _line("ssh-ed25519", "root@dump"),
            "ecdsa.pub": _line("ecdsa-sha2-nistp256", "root@dump")}
    assert sshdump.pick_host_key(keys)["enc"] == "ssh-ed25519"
    del keys["ed25519.pub"]
    assert sshdump.pick_host_key(keys)["enc"] == "ecdsa-sha2-nistp256"
    with pytest.raises(ValueError, match="^kdump:ssh:host_minion: the dump host published no host keys"):
        sshdump.pick_host_key({})
    with pytest.raises(ValueError, match="none of the published host keys"):
        sshdump.pick_host_key({"dsa.pub": "ssh-dss AAAA"})


def test_known_hosts_name_brackets_a_port_other_than_22():
    assert sshdump.known_hosts_name("dump.example", 22) == "dump.example"
    assert sshdump.known_hosts_name("127.0.0.1", 2222) == "[127.0.0.1]:2222"


def test_authorized_options_restrict_and_split_like_salt_reads_them():
    assert sshdump.authorized_options([]) == ["restrict"]
    options = sshdump.authorized_options(["10.0.0.0/8", "*.example.com"])
    # Salt writes ",".join(options) and reads the line back split at every comma.
    assert ",".join(options) == 'restrict,from="10.0.0.0/8,*.example.com"'
    assert ",".join(options).split(",") == options


def test_check_from_refuses_quotes_and_commas():
    assert sshdump.check_from("10.1.2.3") == ["10.1.2.3"]
    assert sshdump.check_from(["!10.0.0.1", "10.0.0.0/8"]) == ["!10.0.0.1", "10.0.0.0/8"]
    for bad in (['a",command="sh'], ["a,b"], [3], {"a": 1}):
        with pytest.raises(ValueError, match="^kdump:ssh:authorize:from: "):
            sshdump.check_from(bad)


def test_schema_fills_ssh_defaults_and_reports_every_ssh_error_at_once():
    pillar, report = schema.check_pillar({})
    assert pillar["ssh"] == schema.DEFAULT_SSH and not report.errors
    _, report = schema.check_pillar({"ssh": {
        "key_type": "dsa", "port": 0, "known_hosts": "rel/path", "host_minion": "a b",
        "host_key": "ssh-ed25519 ???", "bogus": 1,
        "authorize": {"tgt_type": "nope", "from": ["a,b"], "config": "../x"},
    }})
    keys = sorted(line.split(": ", 1)[0] for line in report.errors)
    assert keys == sorted([
        "kdump:ssh:bogus", "kdump:ssh:key_type", "kdump:ssh:port", "kdump:ssh:known_hosts",
        "kdump:ssh:host_minion", "kdump:ssh:host_key", "kdump:ssh:authorize:user",
        "kdump:ssh:authorize:tgt_type", "kdump:ssh:authorize:from", "kdump:ssh:authorize:config",
    ])


def test_schema_wants_one_source_for_the_dump_host_key():
    _, report = schema.check_pillar({"ssh": {"host_minion": "dumphost", "host_key": _line("ssh-ed25519")}})
    assert report.errors == ["kdump:ssh:host_key: give host_key or host_minion, not both (one source of truth)"]


def test_stale_keys_are_only_the_formulas_own_no_minion_publishes():
    authorized = {"K1": {"enc": "ssh-ed25519", "comment": "kdump@web1"},
                  "K0": {"enc": "ssh-ed25519", "comment": "kdump@web1"},
                  "K3": {"enc": "ssh-rsa", "comment": "kdump@web3"},
                  "K9": {"enc": "ssh-ed25519", "comment": "kdump@web9"},
                  "KA": {"enc": "ssh-ed25519", "comment": "root@admin"},
                  "KN": {"enc": "ssh-ed25519", "comment": ""}}
    current = [{"minion": "web1", "enc": "ssh-ed25519", "key": "K1"}]
    assert sshdump.stale_keys(authorized, current, keep=["web9"]) == [
        {"minion": "web1", "enc": "ssh-ed25519", "key": "K0", "comment": "kdump@web1"},
        {"minion": "web3", "enc": "ssh-rsa", "key": "K3", "comment": "kdump@web3"},
    ]
    assert sshdump.stale_keys({}, current) == []
    assert sshdump.authorized_comment("web1") == "kdump@web1"
