"""Crash-test reports people read: a text table, a one-line summary, one line per progress
event, a self-contained HTML page with a per-wave timeline, and JUnit XML for CI.

Pure: every function takes the runner's return (docs/runners/kdump.md) or one progress event
and returns a string; no Salt, no I/O. Records may lack any field (plans, not-ready minions,
runners that add fields later), so every field is read with a default.
"""

import html
import re
import xml.etree.ElementTree as ET

from kdumplib.sizing import human

COLUMNS = ("minion", "stage", "status", "down (s)", "dump", "size", "panic", "reason")

# Statuses a crash test gives (kdumplib.crashplan); others are shown as they come.
PASSED, FAILED, SKIPPED, NOT_READY, PLANNED = "passed", "failed", "skipped", "not_ready", "planned"
CRASHTEST, REBOOT, AUDIT = "kdump.crashtest", "kdump.reboot_pending", "kdump.audit"
# Per runner: statuses always counted in the summary, counted when present, and counted
# together as "excluded" (minions that were never meant to be acted on).
SUMMARY_ORDER = {
    CRASHTEST: ((PASSED, FAILED), (SKIPPED, "refused", PLANNED), (NOT_READY,)),
    "kdump.plan": ((PASSED, FAILED), (SKIPPED, "refused", PLANNED), (NOT_READY,)),
    REBOOT: (("ready", FAILED), (SKIPPED, "not_pending", "unknown", "refused", PLANNED), ()),
    AUDIT: (("ready",), ("reboot_pending", "not_loaded", "no_space", "not_ready", "no_answer"), ()),
}
# Statuses that pass / fail a JUnit testcase per runner; every other one is "skipped".
JUNIT_VERDICTS = {
    CRASHTEST: ({PASSED}, {FAILED}),
    REBOOT: ({"ready"}, {FAILED, "unknown"}),
    AUDIT: ({"ready"}, {"reboot_pending", "not_loaded", "no_space", "not_ready", "no_answer"}),
}
PANIC_WIDTH = 40
# A runner comment that only counts statuses ("3 passed, 1 not ready"): nothing to add.
_COUNTS_ONLY = re.compile(r"^\d+ [a-z ]+(, \d+ [a-z ]+)*$")
STATUS_COLOURS = {
    PASSED: "#2e7d32", FAILED: "#c62828", SKIPPED: "#9e9e9e", NOT_READY: "#ef6c00",
    PLANNED: "#1565c0", "ready": "#2e7d32", "reboot_pending": "#ef6c00", "not_pending": "#9e9e9e",
}
OTHER_COLOUR = "#6d4c41"


# --------------------------------------------------------------------------- reading


def records(ret):
    """``[(minion, record)]`` in the order of the run: by stage as planned, then by id;
    minions without a stage (not ready) last. ``minions`` may be a mapping of id → record
    or a list of records that carry their ``minion``."""
    minions = ret.get("minions") if isinstance(ret, dict) else None
    if isinstance(minions, list):
        rows = [(str(r.get("minion")), r) for r in minions if isinstance(r, dict)]
    elif isinstance(minions, dict):
        rows = [(str(m), r if isinstance(r, dict) else {"status": str(r)}) for m, r in minions.items()]
    else:
        return []
    order = {stage.get("name"): index for index, stage in enumerate(_stages(ret))}
    return sorted(rows, key=lambda row: (order.get(row[1].get("stage"), len(order)), row[0]))


def _stages(ret):
    stages = ret.get("stages") if isinstance(ret, dict) else None
    return [s for s in stages if isinstance(s, dict)] if isinstance(stages, list) else []


def is_report(data):
    """True for a runner return this module renders: ``minions`` as a mapping of records
    or a list of records with their ``minion``."""
    if not isinstance(data, dict):
        return False
    minions = data.get("minions")
    return isinstance(minions, dict) or (
        isinstance(minions, list) and all(isinstance(r, dict) and "minion" in r for r in minions)
        and ("stages" in data or "summary" in data))


def counts(ret):
    """``{status: n}`` over the minion records."""
    result = {}
    for _, record in records(ret):
        status = record.get("status") or "unknown"
        result[status] = result.get(status, 0) + 1
    return result


def duration(ret):
    """Seconds the run took, when the runner said (``duration``); else None."""
    value = ret.get("duration") if isinstance(ret, dict) else None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# --------------------------------------------------------------------------- small formats


def format_duration(seconds):
    """372 → ``"6 min 12 s"``; 41.4 → ``"41 s"``; 3720 → ``"1 h 2 min"``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _size(value):
    return human(value) if isinstance(value, int) and not isinstance(value, bool) else ""


def _seconds(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.1f}"
    return ""


def _reason(record):
    if record.get("reason"):
        return str(record["reason"])
    problems = record.get("problems")
    if isinstance(problems, list) and problems:
        return "; ".join(str(p) for p in problems)
    return ""


def _clip(text, width):
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def runner(ret):
    """Which runner function made ``ret`` (``kdump.crashtest`` when it does not say)."""
    name = ret.get("runner") if isinstance(ret, dict) else None
    return name if name in SUMMARY_ORDER else CRASHTEST


def _label(status):
    return str(status).replace("_", " ")


def summary_line(ret):
    """``"3 passed, 0 failed, 1 excluded in 6 min 12 s"``; a plan says ``"plan: ..."``.

    Per runner (``SUMMARY_ORDER``): the statuses always counted, those counted when there
    are some, and (crash test) the not-ready minions as ``excluded``; any other status is
    named after them.
    """
    tally = counts(ret)
    always, some, excluded = SUMMARY_ORDER[runner(ret)]
    parts = [f"{tally.pop(status, 0)} {_label(status)}" for status in always]
    parts.extend(f"{tally.pop(status)} {_label(status)}" for status in some if tally.get(status))
    if excluded:
        parts.append(f"{sum(tally.pop(status, 0) for status in excluded)} excluded")
    parts.extend(f"{n} {_label(status)}" for status, n in sorted(tally.items()))
    text = ", ".join(parts)
    seconds = duration(ret)
    if seconds is not None:
        text += f" in {format_duration(seconds)}"
    if ret.get("test"):
        text = f"plan: {text}"
    return text


def failures(ret):
    """``["web2: no new dump was saved", ...]``: each failed minion and why."""
    bad = JUNIT_VERDICTS.get(runner(ret), JUNIT_VERDICTS[CRASHTEST])[1]
    return [f"{minion}: {_reason(record) or _label(record.get('status'))}"
            for minion, record in records(ret) if record.get("status") in bad]


# --------------------------------------------------------------------------- text


def table_rows(ret):
    """One tuple of strings per minion, in ``COLUMNS`` order (the panic string clipped)."""
    rows = []
    for minion, record in records(ret):
        rows.append((
            str(minion),
            str(record.get("stage") or "-"),
            str(record.get("status") or "unknown").replace("_", " "),
            _seconds(record.get("seconds")),
            str(record.get("dump") or ""),
            _size(record.get("size")),
            _clip(record.get("panic") or "", PANIC_WIDTH),
            _reason(record),
        ))
    return rows


def text_table(ret):
    """The per-minion table, columns separated by `` | `` and padded; the reason column
    (the last one) is not padded."""
    rows = [COLUMNS] + table_rows(ret)
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    right = {COLUMNS.index("down (s)"), COLUMNS.index("size")}

    def line(row):
        cells = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
                 for i, cell in enumerate(row[:-1])]
        return " | ".join(cells + [row[-1]]).rstrip()

    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([line(rows[0]), rule] + [line(row) for row in rows[1:]])


def headline(ret):
    """``[summary line]``, then the runner's comment when it says more than the counts
    (where the run stopped, why nothing ran): the verdict in one or two lines, shared by
    the outputter and the orchestration state's comment."""
    lines = [summary_line(ret)]
    comment = str(ret.get("comment") or "")
    if comment and not _COUNTS_ONLY.match(comment):  # the summary says that already
        lines.append(comment)
    return lines


def text_report(ret):
    """What the outputter prints: the table, the summary, the runner's comment when it
    says more (where the run stopped, why nothing ran), and each failure."""
    parts = [text_table(ret), ""] + headline(ret)
    parts.extend(f"FAILED {line}" for line in failures(ret))
    return "\n".join(parts)


def minion_line(minion, record, kind=CRASHTEST):
    """``"wave 1: web2 crashed; back after 41 s; dump 31.0 MiB ok"``: one minion's story
    (``rebooted`` for the reboot runner; the audit says its verdict and why)."""
    status = record.get("status")
    stage = record.get("stage") or "preflight"
    if kind == AUDIT:
        reason = _reason(record)
        return f"{minion}: {_label(status)}" + (f": {reason}" if reason else "")
    if status in (NOT_READY, SKIPPED, PLANNED, "not_pending", "refused") or status is None:
        text = f"{stage}: {minion} not {'rebooted' if kind == REBOOT else 'crashed'} ({_label(status)})"
        reason = _reason(record)
        return f"{text}: {reason}" if reason else text
    steps = [f"{stage}: {minion} {'rebooted' if kind == REBOOT else 'crashed'}"]
    if _seconds(record.get("seconds")):
        steps.append(f"back after {format_duration(record['seconds'])}")
    if record.get("dump"):
        size = _size(record.get("size"))
        steps.append(f"dump {size} {'ok' if status == PASSED else status}".replace("  ", " "))
    if status not in (PASSED, "ready"):
        steps.append(f"{_label(status)}: {_reason(record) or 'no reason given'}")
    elif kind == REBOOT:
        steps.append("ready")
    return "; ".join(steps)


def progress_line(event):
    """One line for one progress event of the runner (``kind`` plus its fields)."""
    kind = event.get("kind")
    stage = event.get("stage") or ""
    minion = event.get("minion") or ""
    where = f"{stage}: " if stage else ""
    if kind == "preflight":
        groups = [(key, event.get(key)) for key in ("ready", "not_ready", "pending", "not_pending",
                                                    "unknown", "refused", "skipped") if key in event]
        parts = []
        for key, members in groups:
            members = members if isinstance(members, list) else []
            named = f" ({', '.join(map(str, members))})" if members and key != groups[0][0] else ""
            parts.append(f"{len(members)} {_label(key)}{named}")
        return "preflight: " + ", ".join(parts)
    if kind == "stage":
        verb = "rebooting" if event.get("act") == "rebooted" else "crashing"
        return f"{where}{verb} {', '.join(map(str, event.get('minions') or [])) or 'nobody'}"
    if kind in ("crash", "reboot"):
        verb = "crashed" if kind == "crash" else "rebooting"
        return f"{where}{minion} {verb}" + (f" (job {event['jid']})" if event.get("jid") else "")
    if kind == "started":
        return f"{where}{minion} is starting"
    if kind == "back":
        seconds = event.get("seconds")
        return f"{where}{minion} back" + (f" after {format_duration(seconds)}"
                                          if isinstance(seconds, (int, float)) else "")
    if kind == "timeout":
        return f"{where}{minion} did not come back in time"
    if kind == "refused":
        return f"{where}{minion} refused the crash: {event.get('reason') or 'no reason given'}"
    if kind == "verified":
        size = _size(event.get("size"))
        status = event.get("status") or "unknown"
        if "dump" not in event:  # the reboot runner: ready or not
            return f"{where}{minion} {_label(status)}" + (f": {event['reason']}" if event.get("reason") else "")
        dump = f"dump {size}".rstrip() if event.get("dump") else "no dump"
        text = f"{where}{minion} {dump} {'ok' if status == PASSED else status}"
        return text + (f": {event['reason']}" if event.get("reason") else "")
    if kind == "stage_done":
        return f"{where}{event.get('status') or 'done'} ({event.get('failures', 0)} failed so far)"
    fields = ", ".join(f"{k}={v}" for k, v in sorted(event.items())
                       if k not in ("kind", "stage", "_stamp", "outputter"))
    return f"{where}{kind or 'event'}" + (f": {fields}" if fields else "")


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#212121}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:24px 0 8px}
.summary{font-size:16px;margin:4px 0 16px}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5;white-space:nowrap}td.num{text-align:right}td.nw,td.num{white-space:nowrap}
.status{font-weight:600;color:#fff;border-radius:3px;padding:1px 6px;white-space:nowrap}
ul.failures{color:#c62828}
svg text{font-size:12px;font-family:inherit}
"""


def _badge(status):
    colour = STATUS_COLOURS.get(status, OTHER_COLOUR)
    label = html.escape(str(status or "unknown").replace("_", " "))
    return f'<span class="status" style="background:{colour}">{label}</span>'


def _html_table(ret):
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = []
    for (minion, record), row in zip(records(ret), table_rows(ret)):
        cells = [f'<td class="nw">{html.escape(row[0])}</td>', f'<td class="nw">{html.escape(row[1])}</td>',
                 f"<td>{_badge(record.get('status'))}</td>",
                 f'<td class="num">{html.escape(row[3])}</td>', f"<td>{html.escape(row[4])}</td>",
                 f'<td class="num">{html.escape(row[5])}</td>',
                 f"<td>{html.escape(str(record.get('panic') or ''))}</td>",
                 f"<td>{html.escape(row[7])}</td>"]
        body.append(f'<tr data-minion="{html.escape(str(minion))}">{"".join(cells)}</tr>')
    return f'<table id="minions"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _lanes(ret):
    """``[(lane title, [(minion, record)])]``: one lane per stage, then the minions that
    were never staged (not ready)."""
    by_stage = {}
    for minion, record in records(ret):
        by_stage.setdefault(record.get("stage"), []).append((minion, record))
    lanes = [(s.get("name"), by_stage.pop(s.get("name"), [])) for s in _stages(ret)]
    lanes.extend((name, rows) for name, rows in by_stage.items() if name is not None)
    if None in by_stage:
        lanes.append(("not in a stage", by_stage[None]))
    return [(str(name), rows) for name, rows in lanes if rows]


def _events(record):
    """``[(event, seconds since the call)]`` from a record's ``timeline``, in time order."""
    timeline = record.get("timeline")
    if not isinstance(timeline, dict):
        return []
    return sorted(((str(k), v) for k, v in timeline.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)), key=lambda e: e[1])


EVENT_COLOURS = {"crash": "#c62828", "reboot": "#c62828", "started": "#757575", "back": "#1565c0"}


def _timeline_row(record, x_of, label_w, mid, colour):
    """The marks of one minion: from its ``timeline`` events (seconds since the call) when
    the runner gives them, else crash at 0 and back after ``seconds``."""
    seconds = record.get("seconds")
    events = _events(record) or (
        [("crash", 0), ("back", seconds), ("verified", seconds)]
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool)
        else [])
    status = html.escape(_label(record.get("status")))
    if not events:
        what = "crashed, never came back" if record.get("status") == FAILED else "not acted on"
        if record.get("timeline"):
            what = "no time recorded"
        detail = _clip(_reason(record) or _label(record.get("status")), 90)
        return (f'<text x="{label_w}" y="{mid + 4}" fill="{colour}">'
                f"{html.escape(what)}: {html.escape(detail)}</text>")
    first = x_of(events[0][1])
    back = next((x_of(t) for name, t in events if name == "back"), x_of(events[-1][1]))
    marks = [f'<rect x="{first}" y="{mid - 4}" width="{max(back - first, 2)}" height="8" fill="#bdbdbd">'
             f"<title>down</title></rect>"]
    for name, when in events:
        x = x_of(when)
        tip = html.escape(f"{name} at {when:.1f} s")
        if name in EVENT_COLOURS:
            marks.append(f'<circle cx="{x}" cy="{mid}" r="5" fill="{EVENT_COLOURS[name]}"><title>{tip}</title></circle>')
        else:  # verified / ready: the verdict
            marks.append(f'<rect x="{x + 6}" y="{mid - 7}" width="14" height="14" fill="{colour}"><title>{tip}</title></rect>')
    end = x_of(events[-1][1]) + 26
    down = f"down {format_duration(seconds)} · " if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) else ""
    marks.append(f'<text x="{end}" y="{mid + 4}">{html.escape(down)}{status}</text>')
    return "".join(marks)


def _timeline_svg(ret):
    """Per wave, one row per minion: crash (or reboot) → down → back → verified, coloured by
    the verdict; minions never acted on say why."""
    lanes = _lanes(ret)
    times = [t for _, rows in lanes for _, r in rows for _, t in _events(r)]
    times += [r["seconds"] for _, rows in lanes for _, r in rows
              if not _events(r) and isinstance(r.get("seconds"), (int, float))]
    longest = max(times + [1])
    label_w, plot_w, row_h, lane_gap = 140, 760, 24, 30
    height = sum(lane_gap + row_h * len(rows) for _, rows in lanes) + 30
    width = label_w + plot_w + 220

    def x_of(seconds):
        return label_w + int(plot_w * max(seconds, 0) / longest)

    out = [f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
           'aria-label="timeline per wave">']
    y = 0
    for title, rows in lanes:
        y += lane_gap
        out.append(f'<g class="lane" data-stage="{html.escape(title)}">'
                   f'<text x="0" y="{y - 8}" font-weight="600">{html.escape(title)}</text>')
        for minion, record in rows:
            status = record.get("status")
            colour = STATUS_COLOURS.get(status, OTHER_COLOUR)
            name = html.escape(str(minion))
            mid = y + row_h // 2
            out.append(f'<g class="tl-row" data-minion="{name}" data-status="{html.escape(str(status))}">'
                       f'<text x="8" y="{mid + 4}">{name}</text>'
                       f"{_timeline_row(record, x_of, label_w, mid, colour)}</g>")
            y += row_h
        out.append("</g>")
    out.append(f'<text x="{label_w}" y="{height - 6}" fill="#757575">crash ● → down ▬ → back ● → '
               f'verified ■ (full width: {html.escape(format_duration(longest))})</text></svg>')
    return "".join(out)


TITLES = {CRASHTEST: "kdump crash test", "kdump.plan": "kdump crash-test plan",
          REBOOT: "kdump: reboot into the reservation", AUDIT: "kdump readiness audit"}


def html_report(ret, title=None):
    """One self-contained HTML page (inline CSS and SVG, nothing fetched): summary,
    failures, the per-wave timeline and the per-minion table."""
    title = title or TITLES.get(runner(ret), "kdump")
    fails = failures(ret)
    fail_list = ("<ul class=\"failures\">" + "".join(f"<li>{html.escape(f)}</li>" for f in fails)
                 + "</ul>") if fails else ""
    comment = str(ret.get("comment") or "")
    comment = "" if _COUNTS_ONLY.match(comment) else f'<p class="comment">{html.escape(comment)}</p>'
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f'<p class="summary" id="summary">{html.escape(summary_line(ret))}</p>'
        f"{comment}{fail_list}"
        f"<h2>Timeline</h2>{_timeline_svg(ret)}"
        f"<h2>Minions</h2>{_html_table(ret)}"
        "</body></html>\n"
    )


# --------------------------------------------------------------------------- JUnit


def junit_xml(ret, suite=None):
    """JUnit XML: one testcase per minion (classname = its stage); failed → ``<failure>``,
    not crashed (not ready, skipped, planned) → ``<skipped>`` with the reason."""
    rows = records(ret)
    good, bad = JUNIT_VERDICTS.get(runner(ret), JUNIT_VERDICTS[CRASHTEST])
    failed = sum(1 for _, r in rows if r.get("status") in bad)
    skipped = sum(1 for _, r in rows if r.get("status") not in good | bad)
    total = duration(ret)
    suite = suite or runner(ret)
    root = ET.Element("testsuites")
    node = ET.SubElement(root, "testsuite", name=suite, tests=str(len(rows)),
                         failures=str(failed), errors="0", skipped=str(skipped),
                         time=f"{total or 0:.1f}")
    for minion, record in rows:
        seconds = record.get("seconds")
        case = ET.SubElement(node, "testcase", classname=f"{suite}.{record.get('stage') or 'preflight'}",
                             name=str(minion),
                             time=f"{seconds:.1f}" if isinstance(seconds, (int, float)) else "0")
        status = record.get("status")
        if status in bad:
            reason = _reason(record) or _label(status)
            ET.SubElement(case, "failure", message=reason, type="kdump").text = minion_line(
                minion, record, runner(ret))
        elif status not in good:
            ET.SubElement(case, "skipped", message=f"{str(status).replace('_', ' ')}: {_reason(record)}".rstrip(": "))
        else:
            ET.SubElement(case, "system-out").text = minion_line(minion, record, runner(ret))
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
