"""Running host commands for the e2e harness, with errors that name the phase.

Every failure in the e2e tier has to say *which phase* broke (image build, apt
repository, boot, step, ...) and what the command printed, because the person
reading a red CI log cannot rerun a 20-minute VM build to find out.
"""

import os
import subprocess
import time


class E2EError(RuntimeError):
    """A phase of the e2e harness failed; the message starts with the phase name."""

    def __init__(self, phase, message):
        super().__init__(f"[{phase}] {message}")
        self.phase = phase


def run(argv, phase, *, env=None, cwd=None, timeout=1800, input_text=None, capture=True):
    """Run ``argv`` (a list, never a shell string) and return its stdout.

    :param argv: the command and its arguments
    :param phase: the harness phase, used in the error message
    :param env: extra environment variables (merged over os.environ)
    :param timeout: seconds before the command is killed and the phase fails
    :raises E2EError: non-zero exit or timeout, with the command and its stderr
    """
    full_env = dict(os.environ)
    full_env.setdefault("LC_ALL", "C.UTF-8")
    if env:
        full_env.update(env)
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [str(a) for a in argv],
            env=full_env,
            cwd=cwd,
            input=input_text,
            text=True,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise E2EError(phase, f"command timed out after {timeout}s: {argv}") from exc
    except FileNotFoundError as exc:
        raise E2EError(phase, f"command not found: {argv[0]} (is it installed? see APT_PKGS in the Makefile)") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or "")[-4000:] if capture else "(not captured)"
        raise E2EError(
            phase,
            f"command failed with exit {proc.returncode} after {time.monotonic() - started:.1f}s: "
            f"{[str(a) for a in argv]}\nstderr:\n{tail}",
        )
    return proc.stdout if capture else ""


def require_root(phase):
    """The image build needs loop devices, mounts and chroot: root only."""
    if os.geteuid() != 0:
        raise E2EError(phase, "must run as root (loop devices, mount, chroot); CI runs as root")
