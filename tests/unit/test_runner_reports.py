"""kdump.crashtest's report=/junit= files and the outputter it names (the runner's glue; the
rendering itself is tests/unit/test_report.py)."""

import xml.etree.ElementTree as ET

import pytest

from _runners import kdump as runner
from kdumplib import report
from tests.unit.test_report import RUN


@pytest.fixture
def configure_loader_modules():
    return {runner: {"__opts__": {"conf_file": "/etc/salt/master", "sock_dir": "/nonexistent"},
                     "__context__": {}}}


@pytest.fixture
def no_fleet(monkeypatch):
    """A bad argument must be refused before any minion is asked anything."""
    def refuse():
        raise AssertionError("a minion was asked before the arguments were checked")
    monkeypatch.setattr(runner, "_client", refuse)


@pytest.mark.parametrize("argument, value, message", [
    ("report", "crash.html", "report: 'crash.html' is not an absolute path"),
    ("junit", "/no/such/dir/crash.xml", "junit: '/no/such/dir/crash.xml': directory '/no/such/dir' does not exist"),
    ("report", "/tmp", "report: '/tmp' is a directory, not a file"),
])
def test_bad_report_paths_are_refused_first(no_fleet, argument, value, message):
    ret = runner.crashtest("web*", **{argument: value})
    assert (ret["result"], ret["retcode"], ret["comment"]) == (False, 1, message)
    assert ret["minions"] == [] and ret["outputter"] == "kdump_report"


def test_the_files_written_hold_the_rendered_return(tmp_path):
    html_path, junit_path = tmp_path / "run.html", tmp_path / "run.xml"
    ret = dict(RUN)
    done = runner._reported(ret, str(html_path), str(junit_path))  # pylint: disable=protected-access
    assert done is ret
    assert (ret["report"], ret["junit"]) == (str(html_path), str(junit_path))
    assert html_path.read_text(encoding="utf-8") == report.html_report(ret)
    suite = ET.parse(junit_path).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("4", "1")


def test_no_file_is_written_unless_asked(tmp_path):
    ret = runner._reported(dict(RUN), None, None)  # pylint: disable=protected-access
    assert "report" not in ret and "junit" not in ret and not list(tmp_path.iterdir())
