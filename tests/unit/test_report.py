"""kdumplib.report: the crash-test table, summary, progress lines, HTML and JUnit."""

import copy
import html.parser
import re
import xml.etree.ElementTree as ET

import pytest

from kdumplib import report

PANIC = "Kernel panic - not syncing: sysrq triggered crash"
# A stopped run: the canary passed, wave 1 failed, wave 2 skipped, one minion not ready.
RUN = {
    "result": False, "retcode": 1, "test": False, "duration": 372.4,
    "comment": "1 passed, 1 failed, 1 skipped, 1 not ready; stopped after wave 1: failures "
               "exceeded max_failures",
    "stages": [{"name": "canary", "minions": ["web1"], "status": "passed"},
               {"name": "wave 1", "minions": ["web2"], "status": "failed"},
               {"name": "wave 2", "minions": ["web3"], "status": "skipped"}],
    "minions": {
        "web3": {"status": "skipped", "stage": "wave 2", "problems": [],
                 "reason": "not crashed: the run stopped after wave 1"},
        "web1": {"status": "passed", "stage": "canary", "seconds": 41.2, "size": 32505856,
                 "dump": "/var/crash/202611270132/dump.202611270132", "panic": PANIC,
                 "call_trace": True, "reason": None, "problems": []},
        "web2": {"status": "failed", "stage": "wave 1", "seconds": 240.0, "dump": None,
                 "reason": "no new dump was saved", "problems": []},
        "web5": {"status": "not_ready", "stage": None,
                 "problems": ["the kdump-tools service is not running", "reboot pending"]},
    },
}

TABLE = """\
minion | stage  | status    | down (s) | dump                                      |     size | panic                                    | reason
-------+--------+-----------+----------+-------------------------------------------+----------+------------------------------------------+-------------------------------------------------------
web1   | canary | passed    |     41.2 | /var/crash/202611270132/dump.202611270132 | 31.0 MiB | Kernel panic - not syncing: sysrq tri... |
web2   | wave 1 | failed    |    240.0 |                                           |          |                                          | no new dump was saved
web3   | wave 2 | skipped   |          |                                           |          |                                          | not crashed: the run stopped after wave 1
web5   | -      | not ready |          |                                           |          |                                          | the kdump-tools service is not running; reboot pending"""


def test_text_table_exact():
    assert report.text_table(RUN) == TABLE


def test_text_report_adds_summary_stop_reason_and_failures():
    assert report.text_report(RUN) == TABLE + (
        "\n\n1 passed, 1 failed, 1 skipped, 1 excluded in 6 min 12 s"
        "\n1 passed, 1 failed, 1 skipped, 1 not ready; stopped after wave 1: failures exceeded max_failures"
        "\nFAILED web2: no new dump was saved")


def test_a_comment_that_only_counts_is_not_repeated():
    ret = {"comment": "3 passed", "minions": {m: {"status": "passed"} for m in ("a", "b", "c")},
           "duration": 41}
    assert report.text_report(ret).splitlines()[-1] == "3 passed, 0 failed, 0 excluded in 41 s"


@pytest.mark.parametrize("statuses, extra, expected", [
    (["passed"] * 3 + ["not_ready"], {"duration": 372}, "3 passed, 0 failed, 1 excluded in 6 min 12 s"),
    (["passed", "failed"], {}, "1 passed, 1 failed, 0 excluded"),
    (["planned", "planned", "not_ready"], {"test": True, "duration": 0.4},
     "plan: 0 passed, 0 failed, 2 planned, 1 excluded in 0 s"),
    (["passed", "reboot_pending"], {"duration": 3720}, "1 passed, 0 failed, 0 excluded, 1 reboot pending in 1 h 2 min"),
    ([], {}, "0 passed, 0 failed, 0 excluded"),
])
def test_summary_line(statuses, extra, expected):
    ret = dict(extra, minions={f"m{i}": {"status": s} for i, s in enumerate(statuses)})
    assert report.summary_line(ret) == expected


@pytest.mark.parametrize("seconds, text", [
    (0, "0 s"), (41.4, "41 s"), (59.6, "1 min"), (60, "1 min"), (372, "6 min 12 s"),
    (3600, "1 h"), (3720, "1 h 2 min"),
])
def test_format_duration(seconds, text):
    assert report.format_duration(seconds) == text


def test_minion_lines():
    minions = RUN["minions"]
    assert report.minion_line("web1", minions["web1"]) == (
        "canary: web1 crashed; back after 41 s; dump 31.0 MiB ok")
    assert report.minion_line("web2", minions["web2"]) == (
        "wave 1: web2 crashed; back after 4 min; failed: no new dump was saved")
    assert report.minion_line("web5", minions["web5"]) == (
        "preflight: web5 not crashed (not ready): the kdump-tools service is not running; "
        "reboot pending")


@pytest.mark.parametrize("event, line", [
    ({"kind": "preflight", "ready": ["web1", "web2"], "not_ready": ["web5"]},
     "preflight: 2 ready, 1 not ready (web5)"),
    ({"kind": "preflight", "ready": ["web1"], "not_ready": []}, "preflight: 1 ready, 0 not ready"),
    ({"kind": "preflight", "ready": ["web1"], "not_ready": [], "skipped": ["nas1"]},
     "preflight: 1 ready, 0 not ready, 1 skipped (nas1)"),
    ({"kind": "preflight", "pending": ["db1", "db2"], "not_pending": ["db3"], "unknown": []},
     "preflight: 2 pending, 1 not pending (db3), 0 unknown"),
    ({"kind": "stage", "stage": "wave 1", "minions": ["web1", "web2"], "act": "crashed"},
     "wave 1: crashing web1, web2"),
    ({"kind": "stage", "stage": "batch 1", "minions": ["db1"], "act": "rebooted"}, "batch 1: rebooting db1"),
    ({"kind": "reboot", "stage": "wave 1", "minion": "db1", "jid": "1"}, "wave 1: db1 rebooting (job 1)"),
    ({"kind": "started", "stage": "wave 1", "minion": "db1"}, "wave 1: db1 is starting"),
    ({"kind": "verified", "stage": "wave 1", "minion": "db1", "status": "ready", "reason": None},
     "wave 1: db1 ready"),
    ({"kind": "stage", "stage": "wave 1", "minions": ["web2", "web3"]}, "wave 1: crashing web2, web3"),
    ({"kind": "crash", "stage": "wave 1", "minion": "web2", "jid": "2026"}, "wave 1: web2 crashed (job 2026)"),
    ({"kind": "back", "stage": "wave 1", "minion": "web2", "seconds": 41.2}, "wave 1: web2 back after 41 s"),
    ({"kind": "timeout", "stage": "wave 1", "minion": "web2"}, "wave 1: web2 did not come back in time"),
    ({"kind": "refused", "stage": "canary", "minion": "web1", "reason": "not ready"},
     "canary: web1 refused the crash: not ready"),
    ({"kind": "verified", "stage": "wave 1", "minion": "web2", "status": "passed",
      "dump": "/var/crash/x/dump", "size": 32505856, "reason": None}, "wave 1: web2 dump 31.0 MiB ok"),
    ({"kind": "verified", "stage": "wave 1", "minion": "web2", "status": "failed", "dump": None,
      "reason": "no new dump was saved"}, "wave 1: web2 no dump failed: no new dump was saved"),
    ({"kind": "stage_done", "stage": "wave 1", "status": "failed", "failures": 1},
     "wave 1: failed (1 failed so far)"),
    # A kind this module does not know (a newer runner): every field, nothing lost.
    ({"kind": "rebooting", "minion": "web2", "outputter": "kdump_report"}, "rebooting: minion=web2"),
])
def test_progress_line(event, line):
    assert report.progress_line(event) == line


def test_records_with_missing_fields_still_render():
    ret = {"minions": {"a": {}, "b": "oops", "c": {"status": "passed", "size": None, "seconds": "?"}}}
    rows = report.table_rows(ret)
    assert [list(row[:4]) for row in rows] == [["a", "-", "unknown", ""], ["b", "-", "oops", ""],
                                               ["c", "-", "passed", ""]]
    assert report.summary_line(ret) == "1 passed, 0 failed, 0 excluded, 1 oops, 1 unknown"
    ET.fromstring(report.junit_xml(ret))
    _check_html(report.html_report(ret), ["a", "b", "c"])
    assert report.text_report({"comment": "x"}).startswith("minion | stage")


def test_is_report():
    assert report.is_report(RUN)
    assert not report.is_report({"minions": ["a"]}) and not report.is_report("text")


class _Balanced(html.parser.HTMLParser):
    """Every element closed, in order (void elements excepted); no external resource."""

    VOID = {"meta", "br", "img", "input", "link", "hr"}

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") or (value and re.search(r"(?i)\b(https?:|url\()", value)
                                            and name != "xmlns"):
                self.errors.append(f"external reference {name}={value}")
        if tag in ("script", "link", "img", "iframe"):
            self.errors.append(f"<{tag}>")
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unbalanced </{tag}>")

    def handle_data(self, data):
        self.text.append(data)


def _check_html(page, minions):
    parser = _Balanced()
    parser.feed(page)
    parser.close()
    assert parser.errors == [] and parser.stack == [], (parser.errors, parser.stack)
    svg = ET.fromstring(page[page.index("<svg"):page.index("</svg>") + len("</svg>")])
    rows = {g.get("data-minion") for g in svg.iter("{http://www.w3.org/2000/svg}g")
            if g.get("class") == "tl-row"}
    assert rows == set(minions)
    return parser


def test_html_report_is_self_contained_and_shows_every_minion():
    page = report.html_report(RUN)
    assert page.startswith("<!DOCTYPE html>")
    parser = _check_html(page, RUN["minions"])
    text = "".join(parser.text)
    assert "1 passed, 1 failed, 1 skipped, 1 excluded in 6 min 12 s" in text
    assert "web2: no new dump was saved" in text
    assert PANIC in text  # the full panic string in the HTML table
    for stage in ("canary", "wave 1", "wave 2", "not in a stage"):
        assert f'data-stage="{stage}"' in page


def test_html_escapes_what_minions_report():
    ret = copy.deepcopy(RUN)
    ret["minions"]["<b>evil</b>"] = {"status": "failed", "stage": "wave 1", "reason": "<script>x</script>"}
    page = report.html_report(ret)
    assert "<script>" not in page and "&lt;script&gt;" in page
    _check_html(page, ret["minions"])


def test_junit_counts_and_messages():
    root = ET.fromstring(report.junit_xml(RUN))
    (suite,) = root.findall("testsuite")
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped", "time")} == {
        "tests": "4", "failures": "1", "errors": "0", "skipped": "2", "time": "372.4"}
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert list(cases) == ["web1", "web2", "web3", "web5"]
    assert cases["web1"].get("classname") == "kdump.crashtest.canary"
    assert cases["web1"].find("failure") is None and cases["web1"].find("skipped") is None
    failure = cases["web2"].find("failure")
    assert failure.get("message") == "no new dump was saved"
    assert cases["web3"].find("skipped").get("message") == (
        "skipped: not crashed: the run stopped after wave 1")
    assert cases["web5"].get("classname") == "kdump.crashtest.preflight"


# The runner's newer return (docs/runners/kdump.md): records as a list carrying their minion,
# a summary per status, a timeline of events in seconds since the call, and the runner's name.
REBOOT = {
    "runner": "kdump.reboot_pending", "result": False, "retcode": 1, "test": False,
    "comment": "1 ready, 1 failed, 1 not pending", "duration": 95.0,
    "summary": {"ready": 1, "failed": 1, "skipped": 0, "not_pending": 1},
    "stages": [{"name": "wave 1", "minions": ["db1", "db2"], "status": "failed", "started": 1.0, "ended": 95.0}],
    "minions": [
        {"minion": "db1", "stage": "wave 1", "status": "ready", "seconds": 52.0, "reason": None,
         "problems": [], "timeline": {"reboot": 1.2, "started": 40.0, "back": 53.2, "ready": 54.0}},
        {"minion": "db2", "stage": "wave 1", "status": "failed", "seconds": None,
         "reason": "did not come back within 90 s", "problems": [], "timeline": {"reboot": 1.3}},
        {"minion": "db3", "stage": None, "status": "not_pending", "reason": "no reboot pending",
         "problems": [], "timeline": {}},
    ],
}
AUDIT = {
    "runner": "kdump.audit", "result": False, "retcode": 1, "test": False, "duration": 2.0,
    "comment": "1 ready, 1 reboot pending", "stages": [],
    "minions": [{"minion": "a", "stage": None, "status": "ready", "problems": []},
                {"minion": "b", "stage": None, "status": "reboot_pending",
                 "reason": "reboot pending: crashkernel=256M is configured"}],
}


def test_list_records_and_the_reboot_runner():
    assert report.is_report(REBOOT)
    assert [m for m, _ in report.records(REBOOT)] == ["db1", "db2", "db3"]
    assert report.summary_line(REBOOT) == "1 ready, 1 failed, 1 not pending in 1 min 35 s"
    assert report.minion_line("db1", REBOOT["minions"][0], report.REBOOT) == (
        "wave 1: db1 rebooted; back after 52 s; ready")
    assert report.failures(REBOOT) == ["db2: did not come back within 90 s"]
    suite = ET.fromstring(report.junit_xml(REBOOT)).find("testsuite")
    assert (suite.get("name"), suite.get("tests"), suite.get("failures"), suite.get("skipped")) == (
        "kdump.reboot_pending", "3", "1", "1")
    page = report.html_report(REBOOT)
    assert "<title>kdump: reboot into the reservation</title>" in page
    _check_html(page, ["db1", "db2", "db3"])
    # db1's marks sit at its event times: reboot at 1.2 s ... ready at 54 s of 54 s.
    row = page[page.index('data-minion="db1"'):]
    assert "<title>reboot at 1.2 s</title>" in row and "<title>ready at 54.0 s</title>" in row


def test_the_audit_counts_readiness_and_fails_every_unready_minion():
    assert report.summary_line(AUDIT) == "1 ready, 1 reboot pending in 2 s"
    assert report.failures(AUDIT) == ["b: reboot pending: crashkernel=256M is configured"]
    suite = ET.fromstring(report.junit_xml(AUDIT)).find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("2", "1", "0")
    assert report.minion_line("b", AUDIT["minions"][1], report.AUDIT) == (
        "b: reboot pending: reboot pending: crashkernel=256M is configured")


def test_timeline_marks_crash_back_and_the_verdict():
    row = report.html_report(RUN)
    row = row[row.index('<g class="tl-row" data-minion="web1"'):]
    row = row[:row.index("</g>")]
    assert "<title>crash at 0.0 s</title>" in row and "<title>back at 41.2 s</title>" in row
    assert '<title>verified at 41.2 s</title></rect>' in row and 'fill="#2e7d32"' in row
