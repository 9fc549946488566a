"""
Orchestration states for the kdump runner: the crash test and the guarded reboot, with the
verdict in the state's result and comment, and the runner's progress shown as it happens.

Salt's ``salt.runner`` state says only "Runner function ... executed" and prints nothing until
the end: it calls the runner through ``saltutil.runner``, which runs it with
``print_event=False``, so the runner's progress events reach the master's event bus but not
the terminal of ``salt-run state.orchestrate``. These states call the runner the same way,
meanwhile listen on the bus for that job's ``salt/run/<jid>/progress`` events and print each
one as salt-run prints a runner's own (the outputter the event names, ``kdump_report``:
one line; ``--out`` wins). The words are ``kdumplib.report``'s; the mapping of the runner's
return to the state return is ``kdumplib.fleetstate`` (pure).

.. code-block:: yaml

    kdump-crashtest:
      kdump_fleet.crashtest:
        - tgt: 'web*'
        - wave_size: 25%
"""

import logging
import os
import sys
import threading
import time

import salt.exceptions
import salt.output
import salt.payload
import salt.utils.event
import salt.utils.files

try:
    from kdumplib import freshness

    freshness.fresh()  # a minion running since before a saltutil.sync: the synced kdumplib
    from kdumplib import fleetstate
    from kdumplib import report as kdreport

    _IMPORT_ERROR = None
except ImportError as exc:  # the master has not synced _utils yet
    fleetstate = kdreport = None
    _IMPORT_ERROR = exc

log = logging.getLogger(__name__)

__virtualname__ = "kdump_fleet"

# Seconds to wait for the bus subscription, for the runner's last events after it returned,
# and for the job's proc file (written just after its "new" event) to name its process.
SUBSCRIBE_WAIT = 10
DRAIN_WAIT = 5
PROC_WAIT = 2
# Processes whose stdout is no one's terminal: progress is only logged there (salt-run, and
# any script driving a RunnerClient, prints; salt/client/mixins.py print_async_event).
DAEMONS = ("salt-master", "salt-api", "salt-minion", "salt-syndic", "salt-proxy")


def __virtual__():
    if fleetstate is None:
        return (False, f"kdump_fleet states: cannot import kdumplib ({_IMPORT_ERROR}); run "
                "'salt-run saltutil.sync_all' so the master has the formula's _utils")
    if "saltutil.runner" not in __salt__:
        return (False, "kdump_fleet states: saltutil.runner is not available (run them on the "
                "master, under state.orchestrate)")
    return __virtualname__


class _Progress:
    """Watches the master's event bus, from before the runner starts until its job returned,
    for the progress events of the one job of ``function`` started by this process, and shows
    each: logged, and printed unless this process is a Salt daemon (``__cli``)."""

    def __init__(self, opts, function):
        self.opts, self.function = opts, function
        self.jid = None
        self.lines = []
        self.subscribed, self.returned, self.stop = threading.Event(), threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._watch, name=f"kdump_fleet {function}", daemon=True)

    def __enter__(self):
        self.thread.start()
        if not self.subscribed.wait(SUBSCRIBE_WAIT):
            log.warning("kdump_fleet: no event bus subscription: progress of %s not shown", self.function)
        return self

    def __exit__(self, *exc_info):
        if self.jid:
            self.returned.wait(DRAIN_WAIT)
        self.stop.set()
        self.thread.join(DRAIN_WAIT)

    def _watch(self):
        try:
            with salt.utils.event.get_master_event(self.opts, self.opts["sock_dir"], listen=True) as bus:
                bus.subscribe("salt/run/")
                self.subscribed.set()
                while not self.stop.is_set():
                    event = bus.get_event(wait=0.2, tag="salt/run/", full=True)
                    if event:
                        self._handle(event.get("tag"), event.get("data"))
        except Exception as exc:  # pylint: disable=broad-except
            log.warning("kdump_fleet: cannot watch the event bus (%s): progress not shown", exc)
        finally:
            self.subscribed.set()

    def _handle(self, tag, data):
        if self.jid is None:
            jid = fleetstate.starts(tag, data, self.function)
            if jid and self._ours(jid):
                self.jid = jid
            return
        job = fleetstate.job_event(tag)
        if not job or job[0] != self.jid:
            return
        if job[1] == "progress" and isinstance(data, dict):
            self._show(data)
        elif job[1] == "ret":
            self.returned.set()

    def _ours(self, jid):
        """True when the job's proc file (``<cachedir>/proc/<jid>``) names this process:
        another orchestration running the same runner is not ours."""
        path = os.path.join(self.opts["cachedir"], "proc", jid)
        deadline = time.monotonic() + PROC_WAIT
        while time.monotonic() < deadline:
            try:
                with salt.utils.files.fopen(path, "rb") as handle:
                    return salt.payload.load(handle).get("pid") == os.getpid()
            except (OSError, ValueError, AttributeError, salt.exceptions.SaltDeserializationError):
                time.sleep(0.05)
        return False

    def _show(self, data):
        line = kdreport.progress_line(data)
        self.lines.append(line)
        log.info("%s: %s", self.function, line)
        if self.opts.get("__cli") in DAEMONS or self.opts.get("quiet"):
            return
        # As salt-run prints its own runner's progress (salt/client/mixins.py print_async_event).
        outputter = self.opts.get("output") or data.get("outputter")
        salt.output.display_output({"suffix": "progress", "event": data}, outputter, self.opts)
        sys.stdout.flush()  # piped (tee, CI logs) as well as on a terminal


def _run(name, function, kwargs):
    """Call ``kdump.<function>`` through ``saltutil.runner`` (as Salt's ``salt.runner`` state
    does), showing its progress, and map its return to the state return."""
    test = bool(__opts__.get("test"))
    kwargs = {key: value for key, value in kwargs.items() if value is not None}
    if test:
        kwargs["test"] = True
    extra = {}
    try:
        extra["__pub_user"] = __user__
    except NameError:
        pass
    try:
        jid = __orchestration_jid__
    except NameError:
        jid = None
    runner = f"kdump.{function}"
    with _Progress(__opts__, runner) as progress:
        out = __salt__["saltutil.runner"](runner, __orchestration_jid__=jid, __env__=__env__,
                                          full_return=True, **extra, **kwargs)
    ret = fleetstate.state_return(name, runner, out, test=test)
    if isinstance(out, dict) and out.get("jid"):
        ret["__jid__"] = out["jid"]
    log.debug("kdump_fleet: %d progress line(s) of %s shown", len(progress.lines), runner)
    return ret


def crashtest(name, tgt, tgt_type=None, canary=None, wave_size=None, waves=None,
              reboot_timeout=None, poll_interval=None, max_failures=None, analyze=None,
              vmlinux=None, timeout=None, report=None, junit=None):
    """
    Crash-test the targeted minions in stages with the runner ``kdump.crashtest``, so an
    orchestration fails when a crashed minion did not save a complete dump.

    Arguments left out (or null) take the runner's defaults (docs/runners/kdump.md).

    :param str name: the state ID.
    :param str tgt: the minions, as for ``salt``.
    :param str tgt_type: glob (default), list, compound, grain, pcre, ...
    :param int canary: minions crashed first, alone (default 1).
    :param wave_size: minions per later stage: an integer or ``"N%"`` (default ``25%``).
    :param list waves: instead of ``wave_size``, each wave's size in turn.
    :param reboot_timeout: seconds a crashed minion has to come back (default 900).
    :param poll_interval: seconds between polls (default 10).
    :param int max_failures: failed minions tolerated before no stage starts (default 0).
    :param bool analyze: also ``vmcore.analyze`` each new dump.
    :param str vmlinux: debug vmlinux path on the minions.
    :param timeout: seconds to wait for each call to the minions (default 30).
    :param str report: absolute path on the master for the HTML report.
    :param str junit: absolute path on the master for JUnit XML.

    result: the runner's verdict; comment: the summary line ("3 passed, 0 failed, 0 excluded
    in 6 min"), where the run stopped and each failure (``minion: reason``); changes:
    ``{"report": <the runner's return>}`` when a minion was crashed. ``test=True`` runs the
    runner's plan (read-only calls only): result None, the stages in the comment.

    .. code-block:: yaml

        kdump-crashtest:
          kdump_fleet.crashtest:
            - tgt: 'web*'
            - canary: 1
            - wave_size: 25%
            - analyze: true
    """
    return _run(name, "crashtest", {
        "tgt": tgt, "tgt_type": tgt_type, "canary": canary, "wave_size": wave_size,
        "waves": waves, "reboot_timeout": reboot_timeout, "poll_interval": poll_interval,
        "max_failures": max_failures, "analyze": analyze, "vmlinux": vmlinux,
        "timeout": timeout, "report": report, "junit": junit,
    })


def reboot_pending(name, tgt, confirm=None, tgt_type=None, batch=None, reboot_timeout=None,
                   poll_interval=None, max_failures=None, timeout=None):
    """
    Reboot, in batches, the targeted minions whose crashkernel reservation waits for a
    reboot, with the runner ``kdump.reboot_pending``, so an orchestration fails when one
    did not come back ready.

    Arguments left out (or null) take the runner's defaults (docs/runners/kdump.md).

    :param str name: the state ID.
    :param str tgt: the minions, as for ``salt``.
    :param str confirm: must repeat ``tgt`` exactly, or nothing is rebooted (result False).
    :param str tgt_type: glob (default), list, compound, grain, pcre, ...
    :param batch: minions rebooted together: an integer, ``"N%"`` or a list of sizes.
    :param reboot_timeout: seconds a rebooted minion has to come back ready (default 900).
    :param poll_interval: seconds between polls (default 10).
    :param int max_failures: failed minions tolerated before later batches skip (default 0).
    :param timeout: seconds to wait for each call to the minions (default 30).

    result: the runner's verdict; comment: the summary line, where the run stopped and each
    failure; changes: ``{"report": <the runner's return>}`` when a minion was rebooted.
    ``test=True`` shows the batches (no ``confirm`` needed): result None.

    .. code-block:: yaml

        kdump-reboot-pending:
          kdump_fleet.reboot_pending:
            - tgt: 'web*'
            - confirm: 'web*'
            - batch: 2
    """
    return _run(name, "reboot_pending", {
        "tgt": tgt, "confirm": confirm, "tgt_type": tgt_type, "batch": batch,
        "reboot_timeout": reboot_timeout, "poll_interval": poll_interval,
        "max_failures": max_failures, "timeout": timeout,
    })
