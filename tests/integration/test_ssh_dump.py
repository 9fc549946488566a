"""Integration tier: dumps over ssh, end to end, with a real sshd, salt-master and two minions.

The test starts its own sshd on a loopback port (own host keys and config in a temporary
directory) and creates a dump user whose home is in a temporary directory; both go away
afterwards. The dump host's minion publishes the sshd's host keys in the mine and applies
salt/kdump/ssh_server.sls; the client minion (its ``kdump_root`` a temporary tree, so
``/root/.ssh`` is not this host's) applies salt/kdump/ssh.sls: its dump key is made, published
in the mine, authorized on the dump host with ``ssh_auth``, and the dump host is pinned with
``ssh_known_hosts``. Then a file is sent the way Debian's kdump-tools sends a dump (``mkdir
-p``, ``dd of=``, ``mv``), with kdump's ssh options: BatchMode, the key, strict host key
checking against the pinned known_hosts. A second apply changes nothing; without the key,
``kdump.status`` is not ready.
"""

import os
import pathlib
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
SSHD = "/usr/sbin/sshd"
CLIENT, DUMPHOST = "kdump-sshclient", "kdump-dumphost"
KEY = "/root/.ssh/kdump_id_ed25519"
KNOWN_HOSTS = "/root/.ssh/known_hosts"

pytestmark = pytest.mark.skipif(
    not (os.path.exists(SSHD) and shutil.which("ssh") and os.geteuid() == 0),
    reason="needs openssh-server (Makefile APT_PKGS) and root (a dump user, an sshd)",
)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def base():
    # Outside pytest's 0700 tmp tree: sshd reads the dump user's authorized_keys as that user.
    path = pathlib.Path(tempfile.mkdtemp(prefix="kdf-ssh-"))
    path.chmod(0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def dump_user(base):
    name = "kdfssh" + secrets.token_hex(3)
    home = base / "home"
    subprocess.run(["useradd", "--home-dir", str(home), "--no-create-home", "--shell", "/bin/sh",
                    "--comment", "kdump-formula test dump user", name], check=True)
    try:
        # Not locked ("!"): sshd without PAM refuses locked accounts even for keys.
        subprocess.run(["usermod", "--password", "*", name], check=True)
        home.mkdir(mode=0o755)
        entry = pwd.getpwnam(name)
        os.chown(home, entry.pw_uid, entry.pw_gid)
        yield {"name": name, "home": home, "uid": entry.pw_uid}
    finally:
        subprocess.run(["userdel", name], check=False)


@pytest.fixture(scope="module")
def sshd(base, dump_user):
    conf = base / "sshd"
    conf.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(conf / "ssh_host_ed25519_key")], check=True)
    port = _free_port()
    (conf / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {conf}/ssh_host_ed25519_key\n"
        f"PidFile {conf}/sshd.pid\nAuthorizedKeysFile .ssh/authorized_keys\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes yes\n"
        f"PermitRootLogin no\nAllowUsers {dump_user['name']}\nLogLevel VERBOSE\n"
        "Subsystem sftp internal-sftp\n"
    )
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation directory
    log = open(conf / "sshd.log", "w")  # pylint: disable=consider-using-with
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(conf / "sshd_config")], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, (conf / "sshd.log").read_text()
                assert time.monotonic() < deadline, "sshd did not listen"
                time.sleep(0.2)
        yield {"port": port, "keydir": conf, "log": conf / "sshd.log"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def pillar_root(base, sshd, dump_user):
    root = base / "pillar"
    root.mkdir()
    (root / "top.sls").write_text(yaml.safe_dump({"base": {CLIENT: ["client"], DUMPHOST: ["dumphost"]}}))
    client = {
        # The mine entry ssh_server.sls reads (pillar.example).
        "mine_functions": {"kdump_ssh_pubkey": [{"mine_function": "kdump_ssh.pubkey"}]},
        "kdump": {
            "settings": {"target": {"type": "ssh", "host": "127.0.0.1", "user": dump_user["name"],
                                    "sshkey": KEY, "path": str(dump_user["home"] / "dumps")}},
            "ssh": {"port": sshd["port"], "host_minion": DUMPHOST},
        },
    }
    dumphost = {
        "mine_functions": {"kdump_ssh_hostkeys": [
            {"mine_function": "ssh.host_keys"}, {"keydir": str(sshd["keydir"])}, {"private": False},
        ]},
        "kdump": {"ssh": {"authorize": {"user": dump_user["name"], "tgt": CLIENT,
                                        "path": str(dump_user["home"] / "dumps")}}},
    }
    (root / "client.sls").write_text(yaml.safe_dump(client))
    (root / "dumphost.sls").write_text(yaml.safe_dump(dumphost))
    return root


@pytest.fixture(scope="module")
def checkout(base):
    deployed = base / "formula"
    deployed.mkdir()
    for name in ("salt", "_modules", "_states", "_utils"):
        (deployed / name).symlink_to(REPO / name, target_is_directory=True)
    return deployed


@pytest.fixture(scope="module")
def client_root(base):
    root = base / "client-root"
    (root / "etc/default").mkdir(parents=True)
    (root / "proc").mkdir()
    (root / "proc/meminfo").write_text("MemTotal:        2017196 kB\n")
    return root


@pytest.fixture(scope="module")
def cluster(salt_factories, checkout, pillar_root, client_root):
    master = salt_factories.salt_master_daemon(
        "kdump-ssh-master",
        overrides={"file_roots": {"base": [str(checkout / "salt"), str(checkout)]},
                   "pillar_roots": {"base": [str(pillar_root)]}},
    )
    with master.started():
        client = master.salt_minion_daemon(CLIENT, overrides={"kdump_root": str(client_root)})
        dumphost = master.salt_minion_daemon(DUMPHOST)
        with client.started(), dumphost.started():
            cli = master.salt_cli(timeout=180)
            ret = cli.run("saltutil.sync_all", minion_tgt="kdump-*")
            assert ret.returncode == 0, ret
            yield cli


def _apply(cli, minion, sls):
    ret = cli.run("state.apply", sls, minion_tgt=minion)
    assert isinstance(ret.data, dict), ret
    states = {value["__id__"]: value for value in ret.data.values()}
    failed = {sid: s["comment"] for sid, s in states.items() if s["result"] is not True}
    assert not failed, failed
    return states


def _kdump_ssh(sshd, client_root, dump_user, remote, **kwargs):
    """ssh exactly as kdump does it (kdump_ssh.check's options), from the client's paths."""
    argv = [
        "ssh", "-i", f"{client_root}{KEY}", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
        "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={client_root}{KNOWN_HOSTS}",
        "-p", str(sshd["port"]), f"{dump_user['name']}@127.0.0.1",
    ] + remote
    return subprocess.run(argv, capture_output=True, timeout=60, check=False, **kwargs)


@pytest.fixture(scope="module")
def first_apply(cluster, client_root, dump_user):
    cli = cluster
    assert cli.run("mine.update", minion_tgt=DUMPHOST).returncode == 0
    client = _apply(cli, CLIENT, "kdump.ssh")
    assert cli.run("mine.update", minion_tgt=CLIENT).returncode == 0
    server = _apply(cli, DUMPHOST, "kdump.ssh_server")
    return {"client": client, "server": server}


def test_first_apply_makes_the_key_pins_the_host_and_authorizes_it(first_apply, client_root, dump_user, sshd):
    client, server = first_apply["client"], first_apply["server"]
    assert client["kdump-ssh-key"]["changes"]["created"] == {"path": KEY, "type": "ssh-ed25519"}
    key = client_root / KEY.lstrip("/")
    info = key.stat()
    assert (info.st_mode & 0o777, info.st_uid) == (0o600, 0)
    assert client["kdump-ssh-known-host"]["changes"], client["kdump-ssh-known-host"]
    host_key = (sshd["keydir"] / "ssh_host_ed25519_key.pub").read_text().split()[1]
    found = subprocess.run(["ssh-keygen", "-F", f"[127.0.0.1]:{sshd['port']}", "-f", f"{client_root}{KNOWN_HOSTS}"],
                           capture_output=True, text=True, check=False)
    assert found.returncode == 0 and host_key in found.stdout, found
    assert server[f"kdump-ssh-authorized-{CLIENT}"]["changes"], server
    authorized = (dump_user["home"] / ".ssh/authorized_keys").read_text()
    public = (client_root / (KEY.lstrip("/") + ".pub")).read_text().split()[1]
    line = next(line for line in authorized.splitlines() if public in line)
    assert line.startswith("restrict ssh-ed25519 "), line


def test_a_dump_reaches_the_dump_host_with_kdumps_ssh_options(first_apply, client_root, dump_user, sshd):
    payload = secrets.token_bytes(256 * 1024)
    stamp = dump_user["home"] / "dumps" / "202612021200"
    # Debian's kdump_save_core_to_ssh: mkdir -p, makedumpfile | ssh dd of=, then mv.
    steps = [
        (["mkdir", "-p", str(stamp)], None),
        (["dd", f"of={stamp}/dump-incomplete"], payload),
        (["mv", f"{stamp}/dump-incomplete", f"{stamp}/dump.202612021200"], None),
    ]
    for remote, data in steps:
        ret = _kdump_ssh(sshd, client_root, dump_user, remote, input=data)
        assert ret.returncode == 0, (remote, ret.stderr, sshd["log"].read_text()[-2000:])
    arrived = stamp / "dump.202612021200"
    assert arrived.read_bytes() == payload
    assert arrived.stat().st_uid == dump_user["uid"]
    # restrict: the dump key cannot open a tunnel (sshd refuses the remote forward).
    ret = subprocess.run(
        ["ssh", "-i", f"{client_root}{KEY}", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
         "-o", f"UserKnownHostsFile={client_root}{KNOWN_HOSTS}", "-o", "ExitOnForwardFailure=yes",
         "-R", "127.0.0.1:0:127.0.0.1:9", "-p", str(sshd["port"]),
         f"{dump_user['name']}@127.0.0.1", "true"],
        capture_output=True, text=True, timeout=60, check=False)
    assert ret.returncode != 0 and "forwarding failed" in ret.stderr.lower(), ret.stderr


def test_check_connects_like_kdump(cluster, first_apply):
    ret = cluster.run("kdump_ssh.check", minion_tgt=CLIENT)
    assert ret.data["ok"] is True and ret.data["code"] is None, ret.data
    assert "BatchMode=yes" in ret.data["command"] and "StrictHostKeyChecking=yes" in ret.data["command"]


def test_second_apply_changes_nothing(cluster, first_apply):
    for minion, sls in ((CLIENT, "kdump.ssh"), (DUMPHOST, "kdump.ssh_server")):
        states = _apply(cluster, minion, sls)
        assert {sid: s["changes"] for sid, s in states.items() if s["changes"]} == {}


def test_a_minion_that_left_the_fleet_loses_its_key_and_nothing_else_is_touched(cluster, first_apply,
                                                                               dump_user, tmp_path):
    """A key ssh_server.sls authorized for a minion that is gone (no mine data: its key was
    deleted on the master) is removed; the fleet's key and a key that is not the formula's stay."""
    authorized = dump_user["home"] / ".ssh/authorized_keys"
    saved = authorized.read_text()
    lines = {}
    for name in ("gone", "admin"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / name)], check=True)
        lines[name] = (tmp_path / f"{name}.pub").read_text().split()[1]
    authorized.write_text(saved + f"restrict ssh-ed25519 {lines['gone']} kdump@kdump-retired\n"
                          f"ssh-ed25519 {lines['admin']} admin@laptop\n")
    try:
        states = _apply(cluster, DUMPHOST, "kdump.ssh_server")
        removed = {sid: s["changes"] for sid, s in states.items() if sid.startswith("kdump-ssh-stale-")}
        assert list(removed) == ["kdump-ssh-stale-kdump-retired-1"] and removed[
            "kdump-ssh-stale-kdump-retired-1"], removed
        after = authorized.read_text()
        assert lines["gone"] not in after and lines["admin"] in after
        assert [line for line in after.splitlines() if "kdump@" + CLIENT in line] == [
            line for line in saved.splitlines() if "kdump@" + CLIENT in line]
        states = _apply(cluster, DUMPHOST, "kdump.ssh_server")
        assert {sid: s["changes"] for sid, s in states.items() if s["changes"]} == {}
    finally:
        authorized.write_text(saved)


def test_status_is_not_ready_without_the_key(cluster, first_apply, client_root):
    settings = cluster.run("pillar.get", "kdump:settings", "unmask=True", minion_tgt=CLIENT).data
    assert cluster.run("kdump.configure", settings=settings, minion_tgt=CLIENT).returncode == 0
    config = (client_root / "etc/default/kdump-tools").read_text()
    assert f'SSH_KEY="{KEY}"' in config
    status = cluster.run("kdump.status", minion_tgt=CLIENT).data
    assert status["target"]["type"] == "ssh" and "config_unreadable" not in status["codes"], status
    assert not [code for code in status["codes"] if code.startswith("ssh_")], status
    key = client_root / KEY.lstrip("/")
    aside = key.with_name("moved-away")
    key.rename(aside)
    try:
        status = cluster.run("kdump.status", minion_tgt=CLIENT).data
        assert status["ready"] is False
        assert "ssh_key_missing" in status["codes"], status
        assert cluster.run("kdump_ssh.check", minion_tgt=CLIENT).data["code"] == "ssh_key_missing"
    finally:
        aside.rename(key)


def test_an_unauthorized_key_is_told_apart(cluster, first_apply, dump_user):
    authorized = dump_user["home"] / ".ssh/authorized_keys"
    saved = authorized.read_text()
    authorized.write_text("")
    try:
        ret = cluster.run("kdump_ssh.check", minion_tgt=CLIENT)
        assert ret.data["ok"] is False and ret.data["code"] == "ssh_unauthorized", ret.data
    finally:
        authorized.write_text(saved)
