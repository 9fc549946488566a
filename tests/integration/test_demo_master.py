"""`make demo`'s master without guests: the demo's own master phase starts the venv's
salt-master on 127.0.0.1 from its generated config, serves the formula and every module
directory (``salt-run saltutil.sync_all`` brings the runner and the ``kdump_report``
outputter to the master), ``salt-run kdump.plan`` prints through that outputter, and cleanup
leaves no master process and no work dir. About 30 s; the guests are the fleet tier's job."""

import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from demo import fleet_demo as fd


def _group(pgid):
    """Pids of the live (non-zombie) processes of process group ``pgid``."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


@pytest.fixture
def demo():
    # short: salt's socket paths must stay under 108 bytes
    workdir = Path(tempfile.mkdtemp(prefix="kfdm-", dir="/tmp"))
    out = []
    paths = fd.demo_paths(workdir, stamp="test")
    run = fd.Demo(fd.Options(), fd.Accel("tcg", fd.TCG, "test"), fd.fleet_layout(3), paths,
                  out=lambda line, **_kw: out.append(line))
    run.cleanup.remove_dir(workdir)
    run.printed = out
    try:
        yield run
    finally:
        run.cleanup.run()


def test_the_demo_master_serves_runner_and_outputter_and_cleanup_stops_it(demo):
    started = time.monotonic()
    demo.phase_master()
    master = demo.master
    assert time.monotonic() - started < 60
    config = (demo.paths["config_dir"] / "master").read_text()
    assert "interface: 127.0.0.1" in config and "auto_accept: true" in config
    assert len(_group(master.pid)) > 1, "salt-master runs its workers in its own process group"

    synced = demo.salt_json(demo.commands["sync"][1], "sync the master")
    assert "runners.kdump" in synced["runners"] and "output.kdump_report" in synced["output"], synced
    assert "utils.kdumplib.report" in synced["utils"], synced

    conf = demo.commands["reboot"][0][:3]  # salt-run -c <config dir>
    code = demo.stream([*conf, "kdump.plan", "*"])
    printed = "\n".join(demo.printed)
    # no minion: the plan fails (exit 1), printed by the kdump_report outputter, not as a dict
    assert code == 1, printed
    assert "minion | stage | status" in printed and "no minion answered '*'" in printed, printed

    pids = _group(master.pid)
    workdir = demo.paths["workdir"]
    demo.cleanup.run()
    assert master.poll() is not None
    assert not [pid for pid in pids if os.path.exists(f"/proc/{pid}") and pid in _group(master.pid)]
    assert not workdir.exists()
    ret = subprocess.run(["ss", "-ltn"], capture_output=True, text=True, check=False)
    for port in demo.ports.values():
        assert f"127.0.0.1:{port} " not in ret.stdout, ret.stdout
