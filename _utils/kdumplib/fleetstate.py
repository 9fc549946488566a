"""What an orchestration state says about a kdump runner run (``_states/kdump_fleet.py``).

Pure: the state return ``{name, result, changes, comment}`` made from what Salt's
``saltutil.runner`` returned (``full_return=True``: ``{"jid", "return", "success"}``), and
the reading of runner event tags the state uses to show the runner's progress as it happens.
The words come from ``kdumplib.report`` (the summary line, the runner's comment when it says
more, each failure as ``minion: reason``), so the state's comment reads like the outputter.
"""

from kdumplib import report

# Timeline events that mean the runner acted on a minion (docs/runners/kdump.md).
ACTED = ("crash", "reboot")
_CLIP = 400


def is_runner_return(ret):
    """True for the one return shape of the kdump runner functions."""
    return isinstance(ret, dict) and "result" in ret and "minions" in ret and "comment" in ret


def acted(ret):
    """True when the run crashed or rebooted at least one minion (a timeline ``crash`` or
    ``reboot`` event): only then does the state report changes."""
    return any(isinstance(record.get("timeline"), dict) and any(e in record["timeline"] for e in ACTED)
               for _, record in report.records(ret))


def plan_lines(ret):
    """``["canary: web1", "wave 1: web2, web3"]``: the stages of a plan, in order."""
    lines = []
    for stage in ret.get("stages") or []:
        if isinstance(stage, dict) and stage.get("minions"):
            lines.append(f"{stage.get('name')}: {', '.join(map(str, stage['minions']))}")
    return lines


def _clip(text):
    text = str(text).strip()
    return text if len(text) <= _CLIP else text[: _CLIP - 3] + "..."


def state_return(name, function, out, test=False):
    """The state return for one call of the runner ``function`` (``kdump.crashtest``...).

    ``result``: True when the runner's ``result`` is true, its ``retcode`` 0 and Salt counted
    the job a success; under ``test`` None for a plan that was made (False for a bad argument,
    as any state error). ``comment``: the summary line, the runner's comment when it says more
    and each failure (``minion: reason``); a plan adds its stages. ``changes``: ``{"report":
    <the runner's return>}`` when a minion was crashed or rebooted, else empty.
    """
    ret = out.get("return") if isinstance(out, dict) and "return" in out else out
    if not is_runner_return(ret):
        return {"name": name, "result": False, "changes": {},
                "comment": f"{function} did not return a report: {_clip(ret)}"}
    ok = (ret["result"] is True and ret.get("retcode", 0) == 0
          and not (isinstance(out, dict) and out.get("success") is False))
    lines = report.headline(ret) + report.failures(ret)
    if test and ok:
        lines += plan_lines(ret)
    return {
        "name": name,
        "result": (None if ok else False) if test else ok,
        "changes": {"report": ret} if acted(ret) and not test else {},
        "comment": "\n".join(lines),
    }


def job_event(tag):
    """``("<jid>", "<suffix>")`` for a runner job's event tag ``salt/run/<jid>/<suffix>``,
    else None."""
    parts = str(tag).split("/")
    if len(parts) == 4 and parts[:2] == ["salt", "run"] and parts[2] and parts[3]:
        return parts[2], parts[3]
    return None


def starts(tag, data, function):
    """The jid when ``tag``/``data`` is the ``new`` event of a job of the runner
    ``function`` (RunnerClient names it ``runner.<function>``), else None."""
    job = job_event(tag)
    if job and job[1] == "new" and isinstance(data, dict) and data.get("fun") == f"runner.{function}":
        return job[0]
    return None
