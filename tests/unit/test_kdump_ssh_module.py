"""_modules/kdump_ssh.py and _states/kdump_ssh.py: the dump key with the real ssh-keygen in a
fake root, the local readiness checks, the dump host's plan; Salt's loader mocked."""

import os
import shutil
import subprocess

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from _modules import kdump_ssh
from _states import kdump_ssh as state

pytestmark = pytest.mark.skipif(not shutil.which("ssh-keygen"), reason="needs ssh-keygen (openssh-client)")

KEY = "/root/.ssh/kdump_id_ed25519"


def run_all(argv, python_shell=None, **_kwargs):
    assert isinstance(argv, list) and python_shell is False
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return {"retcode": done.returncode, "stdout": done.stdout, "stderr": done.stderr}


@pytest.fixture
def pillar():
    return {"kdump:settings": {"target": {"type": "ssh", "host": "dump.example", "user": "kdump", "sshkey": KEY}},
            "kdump:ssh": {}}


@pytest.fixture
def grains():
    return {"os_family": "Debian", "osmajorrelease": 12, "id": "web1"}


@pytest.fixture
def opts(tmp_path):
    return {"kdump_root": str(tmp_path), "test": False, "id": "web1"}


@pytest.fixture
def mine():
    return {}


@pytest.fixture
def authorized():
    """The dump user's authorized keys as Salt's ssh.auth_keys gives them, by (user, config)."""
    return {}


@pytest.fixture
def configure_loader_modules(pillar, grains, opts, mine, authorized):
    def pillar_get(key, default=None, **_kwargs):
        return pillar.get(key, default)

    def mine_get(tgt, fun, tgt_type="glob"):
        return {minion: data[fun] for minion, data in mine.items() if fun in data}

    def auth_keys(user=None, config=".ssh/authorized_keys"):
        return authorized.get((user, config), {})

    salt = {"cmd.run_all": run_all, "pillar.get": pillar_get, "mine.get": mine_get, "ssh.auth_keys": auth_keys}
    salt_for_state = {"kdump_ssh.key": lambda **kw: kdump_ssh.key(**kw)}
    return {kdump_ssh: {"__salt__": salt, "__grains__": grains, "__opts__": opts},
            state: {"__salt__": salt_for_state, "__opts__": opts}}


def test_key_is_made_once_0600_and_never_replaced(tmp_path):
    predicted = kdump_ssh.key(test=True)
    assert predicted == {"path": KEY, "changed": True, "created": True, "fixed": [], "type": "ssh-ed25519", "public": None}
    real = tmp_path / KEY.lstrip("/")
    assert not real.exists()
    made = kdump_ssh.key()
    assert made["created"] and made["public"].startswith("ssh-ed25519 ") and made["public"].endswith("kdump@web1")
    assert oct(real.stat().st_mode & 0o777) == "0o600" and real.stat().st_uid == 0
    assert oct(real.parent.stat().st_mode & 0o777) == "0o700"
    assert not [p for p in real.parent.iterdir() if p.name.startswith(".kdump-key.")]
    before = real.read_bytes()
    again = kdump_ssh.key()
    assert again["changed"] is False and again["public"] == made["public"] and real.read_bytes() == before
    assert kdump_ssh.pubkey() == made["public"]


def test_an_existing_file_that_is_no_key_is_an_error_and_kept(tmp_path):
    real = tmp_path / KEY.lstrip("/")
    real.parent.mkdir(parents=True)
    real.write_text("my notes, not a key\n")
    with pytest.raises(CommandExecutionError, match=f"^{KEY}: exists but is not a usable private key"):
        kdump_ssh.key()
    assert real.read_text() == "my notes, not a key\n"
    assert kdump_ssh.pubkey() is None
    assert [p["code"] for p in kdump_ssh.problems()] == ["ssh_key_invalid", "ssh_host_unknown"]


def test_an_encrypted_key_is_refused(tmp_path):
    real = tmp_path / KEY.lstrip("/")
    real.parent.mkdir(parents=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", str(real)], check=True)
    with pytest.raises(CommandExecutionError, match="encrypted keys cannot be used by the capture kernel"):
        kdump_ssh.key()


def test_a_loose_mode_and_a_missing_pub_are_set_right(tmp_path, opts):
    made = kdump_ssh.key()
    real = tmp_path / KEY.lstrip("/")
    os.chmod(real, 0o644)
    os.unlink(str(real) + ".pub")
    assert "readable by others" in kdump_ssh.problems()[0]["message"]
    predicted = kdump_ssh.key(test=True)
    assert predicted["fixed"] == ["mode 0644 -> 0600", f"{KEY}.pub written from the private key"]
    assert oct(real.stat().st_mode & 0o777) == "0o644"
    fixed = kdump_ssh.key()
    assert fixed["changed"] and not fixed["created"]
    assert oct(real.stat().st_mode & 0o777) == "0o600"
    assert (tmp_path / (KEY.lstrip("/") + ".pub")).read_text().split()[:2] == made["public"].split()[:2]


def test_rsa_where_the_family_kdump_has_no_ed25519(grains):
    grains.update(os_family="RedHat", osmajorrelease=6)
    assert kdump_ssh.key()["type"] == "ssh-rsa"


def test_suse_without_sshkey_is_named(grains, pillar):
    grains["os_family"] = "Suse"
    pillar["kdump:settings"]["target"]["sshkey"] = None
    with pytest.raises(SaltInvocationError, match="^kdump:settings:target:sshkey: required on Suse"):
        kdump_ssh.key()


def test_problems_codes_then_ready(tmp_path, pillar):
    assert [p["code"] for p in kdump_ssh.problems()] == ["ssh_key_missing", "ssh_host_unknown"]
    made = kdump_ssh.key()
    host = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "hostkey")], check=True)
    assert host.returncode == 0
    enc, blob = (tmp_path / "hostkey.pub").read_text().split()[:2]
    known = tmp_path / "root/.ssh/known_hosts"
    known.write_text(f"dump.example {enc} {blob}\n")
    assert made["created"] and kdump_ssh.problems() == []
    pillar["kdump:ssh"] = {"port": 2222}  # the entry is for port 22 only
    assert [p["code"] for p in kdump_ssh.problems()] == ["ssh_host_unknown"]
    assert kdump_ssh.problems({"type": "nfs"}) == []


def test_pinned_host_key_from_pillar_or_mine(pillar, mine, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "h")], check=True)
    line = (tmp_path / "h.pub").read_text().strip()
    assert "neither host_key nor host_minion" in kdump_ssh.pinned_host_key()["error"]
    pillar["kdump:ssh"] = {"host_minion": "dumphost"}
    assert "has published no kdump_ssh_hostkeys" in kdump_ssh.pinned_host_key()["error"]
    mine["dumphost"] = {"kdump_ssh_hostkeys": {"ed25519.pub": line}}
    pinned = kdump_ssh.pinned_host_key()
    assert (pinned["enc"], pinned["key"], pinned["error"]) == ("ssh-ed25519", line.split()[1], None)
    pillar["kdump:ssh"] = {"host_key": line}
    assert kdump_ssh.pinned_host_key()["source"] == "pillar kdump:ssh:host_key"
    pillar["kdump:ssh"] = {"port": "x"}
    assert kdump_ssh.pinned_host_key()["error"].startswith("kdump:ssh:port: ")


def test_server_plan_authorizes_good_keys_and_names_bad_ones(pillar, mine, tmp_path):
    assert "not a dump host" in kdump_ssh.server_plan()["error"]
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
    line = (tmp_path / "k.pub").read_text().strip()
    pillar["kdump:ssh"] = {"authorize": {"user": "kdump", "from": ["10.0.0.0/8"]}}
    mine.update({"web1": {"kdump_ssh_pubkey": line}, "web2": {"kdump_ssh_pubkey": "garbage"},
                 "web3": {"kdump_ssh_pubkey": None}})
    plan = kdump_ssh.server_plan()
    assert plan["error"] is None and plan["user"] == "kdump"
    assert plan["options"] == ["restrict", 'from="10.0.0.0/8"']
    assert plan["keys"] == [{"minion": "web1", "enc": "ssh-ed25519", "key": line.split()[1], "comment": "kdump@web1"}]
    assert [bad["minion"] for bad in plan["invalid"]] == ["web2"] and plan["missing"] == ["web3"]
    assert plan["stale"] == []


def test_server_plan_removes_only_its_own_keys_of_minions_gone_or_rekeyed(pillar, mine, authorized, tmp_path):
    lines = {}
    for name in ("now", "old", "gone"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / name)], check=True)
        lines[name] = (tmp_path / f"{name}.pub").read_text().split()[1]
    pillar["kdump:ssh"] = {"authorize": {"user": "kdump"}}
    mine.update({"web1": {"kdump_ssh_pubkey": f"ssh-ed25519 {lines['now']}"},
                 "web2": {"kdump_ssh_pubkey": None},        # down: keeps its key
                 "web4": {"kdump_ssh_pubkey": "garbage"}})  # a bad key this time: keeps its old one
    authorized[("kdump", ".ssh/authorized_keys")] = {
        lines["now"]: {"enc": "ssh-ed25519", "comment": "kdump@web1"},
        lines["old"]: {"enc": "ssh-ed25519", "comment": "kdump@web1"},       # web1's key before
        lines["gone"]: {"enc": "ssh-ed25519", "comment": "kdump@web3"},      # web3 left the fleet
        "AAAAkept2": {"enc": "ssh-ed25519", "comment": "kdump@web2"},
        "AAAAkept4": {"enc": "ssh-rsa", "comment": "kdump@web4"},
        "AAAAadmin": {"enc": "ssh-ed25519", "comment": "admin@laptop"},      # not ours
    }
    plan = kdump_ssh.server_plan()
    assert plan["stale"] == sorted([
        {"minion": "web1", "enc": "ssh-ed25519", "key": lines["old"], "comment": "kdump@web1"},
        {"minion": "web3", "enc": "ssh-ed25519", "key": lines["gone"], "comment": "kdump@web3"},
    ], key=lambda entry: (entry["minion"], entry["key"]))


def test_state_predicts_then_makes_then_keeps(opts, tmp_path):
    opts["test"] = True
    ret = state.key_present(KEY)
    assert ret["result"] is None and ret["changes"] == {"created": {"path": KEY, "type": "ssh-ed25519"}}
    assert not (tmp_path / KEY.lstrip("/")).exists()
    opts["test"] = False
    ret = state.key_present(KEY)
    assert ret["result"] is True and ret["changes"]["created"]["path"] == KEY
    ret = state.key_present(KEY)
    assert ret == {"name": KEY, "result": True, "changes": {}, "comment": f"{KEY} is a usable ssh-ed25519 key: kept."}


def test_state_fails_on_a_file_that_is_no_key(tmp_path):
    real = tmp_path / KEY.lstrip("/")
    real.parent.mkdir(parents=True)
    real.write_text("x")
    ret = state.key_present(KEY)
    assert ret["result"] is False and "not a usable private key" in ret["comment"] and not ret["changes"]
    assert real.read_text() == "x"
