"""The kdump_report outputter through Salt's own output loader, as salt-run uses it."""

import json
import pathlib
import shutil
import subprocess
import sys

import pytest
import salt.loader
import salt.output

from kdumplib import report
from tests.unit.test_report import RUN

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def opts(base_minion_opts, tmp_path_factory):
    return dict(base_minion_opts, outputter_dirs=[str(REPO / "_output")], color=False,
                extension_modules=str(tmp_path_factory.mktemp("extmods")))


def test_the_output_loader_finds_it(opts):
    assert "kdump_report" in salt.loader.outputters(opts)


def test_a_crashtest_return_becomes_the_table_and_summary(opts):
    text = salt.output.out_format(RUN, "kdump_report", opts)
    assert text == report.text_report(RUN)
    assert text.splitlines()[0].startswith("minion | stage  | status    | down (s) |")


def test_a_progress_event_becomes_one_line(opts):
    event = {"suffix": "progress", "event": {"kind": "back", "stage": "wave 1", "minion": "web2",
                                             "seconds": 41.0, "outputter": "kdump_report"}}
    assert salt.output.out_format(event, "kdump_report", opts) == "wave 1: web2 back after 41 s"


def test_anything_else_falls_back_to_nested(opts):
    text = salt.output.out_format({"web1": {"loaded": True}}, "kdump_report", opts)
    assert "web1:" in text and "loaded:" in text and "True" in text


SYNCED = """
import json, sys
import salt.config, salt.output
opts = salt.config.minion_config(None)
opts.update(extension_modules=sys.argv[1], color=False, file_client="local")
print(json.dumps([salt.output.out_format(json.loads(sys.argv[2]), "kdump_report", opts),
                  "kdumplib" in sys.modules, sys.path.count(sys.argv[1] + "/utils")]))
"""


def test_synced_layout_finds_kdumplib_in_extmods_utils(tmp_path):
    """After ``saltutil.sync_all`` the outputter sits in <extmods>/output and kdumplib in
    <extmods>/utils, which Salt's outputter loader does not put on sys.path: the outputter
    finds it there itself (a fresh interpreter, nothing of this checkout on sys.path)."""
    extmods = tmp_path / "extmods"
    (extmods / "output").mkdir(parents=True)
    shutil.copy2(REPO / "_output" / "kdump_report.py", extmods / "output")
    shutil.copytree(REPO / "_utils" / "kdumplib", extmods / "utils" / "kdumplib")
    proc = subprocess.run([sys.executable, "-c", SYNCED, str(extmods), json.dumps(RUN)],
                          capture_output=True, text=True, cwd=tmp_path, check=False,
                          env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    text, imported, left_on_path = json.loads(proc.stdout)
    assert text == report.text_report(RUN)
    assert imported and left_on_path == 0  # sys.path restored after the import
