"""Integration tier: kdump-formula installed as a Salt extension, the way ``salt-pip`` does.

The wheel is built from this checkout (pyproject.toml) and installed into a fresh venv
holding the same pinned Salt as requirements.txt. A salt-master and a salt-minion are then
started from that venv (its own scripts and Python, not this test's) on loopback ports, with
``file_roots`` = the repository's ``salt/`` directory only: no ``_modules`` to sync, no
``saltutil.sync_all``. The execution modules, states, runner, outputter and grains must come
from the installed extension through the ``salt.loader`` entry point, and ``kdumplib`` as an
installed package.

The venv is cached (``$KDUMP_EXT_CACHE``, default ``/var/cache/kdump-formula-ext``): one per
Salt pin and Python, the wheel reinstalled only when its inputs change. Timings of each
build/install go to ``timings.jsonl`` there.
"""

import hashlib
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest
import yaml

from kdumplib import osfamily

# The fake roots, recording tools and test doubles of the master/minion tier, shared.
from tests.integration.test_master_minion import (  # noqa: F401  pylint: disable=unused-import
    CHANGING_TOOLS,
    DOUBLES,
    FAMILIES,
    make_root,
    tools,
    tools_run,
)

REPO = pathlib.Path(__file__).resolve().parents[2]
MINION_ID = "kdx-minion"
# What the wheel is built from: a change to any of these rebuilds and reinstalls it.
WHEEL_INPUTS = ("pyproject.toml", "setup.py", "FORMULA", "README.md", "LICENSE", "kdump_formula",
                "_modules", "_states", "_runners", "_output", "_grains", "_utils/kdumplib")


def salt_pin():
    for line in (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("salt=="):
            return line.strip()
    raise AssertionError("requirements.txt pins no salt==")


def cache_dir():
    return pathlib.Path(os.environ.get("KDUMP_EXT_CACHE", "/var/cache/kdump-formula-ext"))


def inputs_digest():
    digest = hashlib.sha256()
    for name in WHEEL_INPUTS:
        path = REPO / name
        files = [path] if path.is_file() else sorted(
            p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        for file in files:
            digest.update(str(file.relative_to(REPO)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _run(argv, **kwargs):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    assert proc.returncode == 0, f"{argv} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def _timed(timings, step, argv, **kwargs):
    started = time.monotonic()
    _run(argv, **kwargs)
    timings[step] = round(time.monotonic() - started, 1)


@pytest.fixture(scope="module")
def ext_venv():
    """A venv with the pinned Salt and this checkout's wheel installed (cached)."""
    pin = salt_pin()
    py = f"py{sys.version_info.major}{sys.version_info.minor}"
    venv = cache_dir() / f"venv-{pin.replace('==', '-')}-{py}"
    stamp = venv / f".kdump-formula-{inputs_digest()}"
    timings = {}
    started = time.monotonic()
    if not stamp.exists():
        if not (venv / "bin" / "salt-master").exists():
            shutil.rmtree(venv, ignore_errors=True)
            venv.parent.mkdir(parents=True, exist_ok=True)
            _timed(timings, "venv", [sys.executable, "-m", "venv", str(venv)])
            _timed(timings, "salt", [str(venv / "bin/python"), "-m", "pip", "install", "-q", pin])
        for old in venv.glob(".kdump-formula-*"):
            old.unlink()
        with tempfile.TemporaryDirectory(prefix="kdx-build-") as build:
            # Build from a copy of exactly the inputs: no build/ or egg-info in the checkout.
            src = pathlib.Path(build) / "src"
            for name in WHEEL_INPUTS:
                if (REPO / name).is_dir():
                    shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    src.mkdir(exist_ok=True)
                    shutil.copy2(REPO / name, src / name)
            _timed(timings, "wheel", [str(venv / "bin/python"), "-m", "pip", "wheel", "-q", "--no-deps",
                                      "-w", f"{build}/dist", str(src)])
            (wheel,) = pathlib.Path(build, "dist").glob("kdump_formula-*.whl")
            _timed(timings, "install", [str(venv / "bin/python"), "-m", "pip", "install", "-q",
                                        "--no-deps", "--force-reinstall", str(wheel)])
        stamp.touch()
    timings["total"] = round(time.monotonic() - started, 1)
    timings["cached"] = "wheel" not in timings
    with open(cache_dir() / "timings.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps(dict(timings, pin=pin, at=time.time())) + "\n")
    print(f"extension venv {venv}: {timings}")
    return venv


def _free_ports(count):
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


@pytest.fixture(scope="module")
def debian_root(tmp_path_factory):
    return make_root(tmp_path_factory.mktemp("root-debian"), "Debian")


@pytest.fixture(scope="module")
def deployment(ext_venv, debian_root, tools):
    """salt-master and salt-minion from the extension venv; file_roots: ``salt/`` only.
    The minion is a fake Debian 12 host as in test_master_minion.py (its grains, root,
    tools on PATH, pkg/service doubles)."""
    root = pathlib.Path(tempfile.mkdtemp(prefix="kdx-"))  # short: unix socket paths
    publish, ret = _free_ports(2)
    common = {"user": "root", "log_level_logfile": "info"}
    master = dict(common, root_dir=str(root / "master"), interface="127.0.0.1",
                  publish_port=publish, ret_port=ret, auto_accept=True,
                  file_roots={"base": [str(REPO / "salt")]},
                  pillar_roots={"base": [str(REPO / "tests" / "pillar")]},
                  log_file=str(root / "master.log"))
    minion = dict(common, id=MINION_ID, root_dir=str(root / "minion"), master="127.0.0.1",
                  master_port=ret, publish_port=publish, kdump_root=str(debian_root),
                  grains=FAMILIES["Debian"]["grains"], module_dirs=[str(DOUBLES)],
                  providers={"pkg": "kdumptest_pkg", "service": "kdumptest_service"},
                  log_file=str(root / "minion.log"))
    for name, opts in (("master", master), ("minion", minion)):
        (root / "conf").mkdir(exist_ok=True)
        (root / "conf" / name).write_text(yaml.safe_dump(opts), encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env["PATH"] = os.pathsep.join([str(tools["grub"]), str(tools["lvm"]), str(ext_venv / "bin"),
                                   env["PATH"]])
    procs = [subprocess.Popen([str(ext_venv / "bin" / f"salt-{name}"), "-c", str(root / "conf"),
                               "-l", "quiet"], cwd=root, env=env)
             for name in ("master", "minion")]
    bins = {"salt": ext_venv / "bin/salt", "salt-run": ext_venv / "bin/salt-run"}

    def cli(tool, *args, out="json"):
        argv = [str(bins[tool]), "-c", str(root / "conf"), *args]
        if out:
            argv.insert(3, f"--out={out}")
        if tool == "salt":
            argv[3:3] = ["-t", "120"]
        return subprocess.run(argv, capture_output=True, text=True, cwd=root, env=env,
                              timeout=300, check=False)

    try:
        deadline = time.monotonic() + 120
        while True:
            ping = cli("salt", MINION_ID, "test.ping")
            try:
                answered = json.loads(ping.stdout) == {MINION_ID: True}
            except ValueError:  # "No minions matched the target" before the key is accepted
                answered = False
            if ping.returncode == 0 and answered:
                break
            assert time.monotonic() < deadline, f"the minion never answered: {ping}"
            assert all(p.poll() is None for p in procs), "a daemon exited; see " + str(root)
            time.sleep(1)
        yield {"cli": cli, "root": root, "venv": ext_venv}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(root, ignore_errors=True)


def _documents(stdout):
    decoder, found, index = json.JSONDecoder(), [], 0
    while stdout[index:].strip():
        index += len(stdout[index:]) - len(stdout[index:].lstrip())
        document, index = decoder.raw_decode(stdout, index)
        found.append(document)
    return found


def _data(proc):
    assert proc.returncode == 0, proc
    return json.loads(proc.stdout)


def test_the_wheel_holds_the_top_level_directories(ext_venv):
    """The installed extension is this checkout's files, found through the entry point."""
    code = ("import json, kdump_formula, kdump_formula.loader as l, kdumplib.report; "
            "print(json.dumps({'version': kdump_formula.__version__, 'dirs': l.get_loader_dirs(), "
            "'kdumplib': kdumplib.report.__file__}))")
    found = json.loads(_run([str(ext_venv / "bin/python"), "-c", code], cwd="/").stdout)
    formula = yaml.safe_load((REPO / "FORMULA").read_text(encoding="utf-8"))
    assert found["version"] == formula["version"]
    assert set(found["dirs"]) == {"modules", "states", "runners", "output", "grains"}
    site = str(ext_venv / "lib")
    for kind, source in (("modules", "_modules"), ("states", "_states"), ("runners", "_runners"),
                         ("output", "_output"), ("grains", "_grains")):
        (directory,) = found["dirs"][kind]
        assert directory.startswith(site), directory
        assert sorted(n for n in os.listdir(directory) if n.endswith(".py")) == sorted(
            p.name for p in (REPO / source).glob("*.py")), kind
    assert found["kdumplib"].startswith(site)


def test_modules_answer_without_any_sync(deployment):
    cli = deployment["cli"]
    parsed = _data(cli("salt", MINION_ID, "crashkernel.parse", "1G-4G:192M,4G-64G:256M@16M"))
    assert parsed[MINION_ID]["kind"] == "ranges"
    assert [r["size"] for r in parsed[MINION_ID]["ranges"]] == [192 << 20, 256 << 20]
    status = _data(cli("salt", MINION_ID, "kdump.status"))[MINION_ID]
    assert status["os_family"] == "Debian" and status["ready"] is False, status
    assert "no memory reserved for the crash kernel" in " ".join(status["problems"])
    # Nothing was synced: the minion's extension-module cache holds no copy of ours.
    extmods = deployment["root"] / "minion" / "var/cache/salt/minion/extmods"
    synced = [p.name for p in extmods.rglob("*.py")] if extmods.exists() else []
    assert not {"kdump.py", "crashkernel.py", "vmcore.py"} & set(synced), synced


def test_grains_come_from_the_extension(deployment):
    """The grains loader reads the entry point too: the kdump grains target the minion (a
    fresh Debian host: nothing reserved) with nothing synced."""
    cli = deployment["cli"]
    found = _data(cli("salt", MINION_ID, "grains.item", "kdump_ready", "kdump_problems"))[MINION_ID]
    assert found == {"kdump_ready": False, "kdump_problems": ["config_missing", "not_reserved"]}, found
    assert _data(cli("salt", "-G", "kdump_ready:False", "test.ping")) == {MINION_ID: True}


def test_formula_applies_from_file_roots_salt_only(deployment, debian_root, tools):
    """The newcomer's dry run of test_master_minion.py, from the installed extension."""
    facts = FAMILIES["Debian"]
    before = sorted(str(path.relative_to(debian_root)) for path in debian_root.rglob("*"))
    ret = _data(deployment["cli"]("salt", MINION_ID, "state.apply", "kdump", "test=True"))
    states = {value["__id__"]: value for value in ret[MINION_ID].values()}
    assert {i: s["comment"] for i, s in states.items() if s["result"] is False} == {}
    assert states["kdump-validated"]["result"] is True, states["kdump-validated"]
    assert states["kdump-crashkernel"]["changes"] == {
        "configured": {"old": None, "new": facts["crashkernel"]}}
    config = states["kdump-config"]
    config_file = osfamily.OS_FAMILIES["Debian"]["config_file"]  # the one owner of OS facts
    assert config["result"] is None and config["changes"]["config"]["path"] == config_file
    assert states["kdump-ready"]["comment"].startswith("kdump is not ready now:")
    assert sorted(str(path.relative_to(debian_root)) for path in debian_root.rglob("*")) == before
    assert not tools_run(tools) & set(CHANGING_TOOLS)


def test_runner_and_outputter_come_from_the_extension(deployment):
    cli = deployment["cli"]
    raw = cli("salt-run", "kdump.plan", MINION_ID)
    assert raw.returncode == 1, raw  # no ready minion: the plan fails
    *events, plan = _documents(raw.stdout)  # salt-run prints progress events, then the return
    assert [e["event"]["kind"] for e in events] == ["preflight"], events
    assert [(r["minion"], r["status"]) for r in plan["minions"]] == [(MINION_ID, "not_ready")], plan
    assert plan["outputter"] == "kdump_report"
    # Without --out, salt-run prints the return with the outputter it names: the table.
    shown = cli("salt-run", "kdump.plan", MINION_ID, out=None)
    assert shown.returncode == 1, shown
    print(shown.stdout)
    # The progress event printed as one line, then the table.
    first, *lines = shown.stdout.splitlines()
    assert first == f"preflight: 0 ready, 1 not ready ({MINION_ID})", shown.stdout
    assert [cell.strip() for cell in lines[0].split("|")] == [
        "minion", "stage", "status", "down (s)", "dump", "size", "panic", "reason"], shown.stdout
    row = [cell.strip() for cell in lines[2].split("|")]
    assert row[:3] == [MINION_ID, "-", "not ready"], shown.stdout
    assert "no memory reserved for the crash kernel" in row[7]
    assert "plan: 0 passed, 0 failed, 1 excluded in " in shown.stdout
