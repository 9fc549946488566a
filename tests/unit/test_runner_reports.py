"""kdump.crashtest's report=/junit= files and the outputter it names (the runner's glue; the
rendering itself is tests/unit/test_report.py)."""

import xml.etree.ElementTree as ET

import pytest
from salt.exceptions import SaltInvocationError

from _runners import kdump as runner
from kdumplib import report
from tests.unit.test_report import RUN


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
    with pytest.raises(SaltInvocationError) as error:
        runner.crashtest("web*", **{argument: value})
    assert str(error.value) == message


def test_the_return_names_the_outputter_and_the_files_written(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "_now", lambda: 500.0)
    html_path, junit_path = tmp_path / "run.html", tmp_path / "run.xml"
    ret = {key: value for key, value in RUN.items() if key != "duration"}
    done = runner._reported(ret, 127.6, str(html_path), str(junit_path))  # pylint: disable=protected-access
    assert done is ret
    assert (ret["duration"], ret["outputter"]) == (372.4, "kdump_report")
    assert (ret["report"], ret["junit"]) == (str(html_path), str(junit_path))
    assert html_path.read_text(encoding="utf-8") == report.html_report(ret)
    suite = ET.parse(junit_path).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("time")) == ("4", "1", "372.4")


def test_a_duration_the_runner_measured_is_kept(monkeypatch):
    monkeypatch.setattr(runner, "_now", lambda: 500.0)
    ret = runner._reported({"duration": 12.0, "minions": {}}, 0.0, None, None)  # pylint: disable=protected-access
    assert ret == {"duration": 12.0, "minions": {}, "outputter": "kdump_report"}
