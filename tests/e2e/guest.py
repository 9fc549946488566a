"""Drive a Debian guest under QEMU one boot at a time: boot, run a step, collect its results.

Why: kdump can only be proven on a real kernel, and under TCG an in-guest reboot makes GRUB
crawl, so every boot is a fresh QEMU process started with ``-no-reboot``: a step that powers
off, reboots, or crashes into the capture kernel (which saves the dump and reboots) always
ends with QEMU exiting. The guest side (``guest_files/kdump-e2e-step``) mounts the 9p share,
runs ``step.sh``, writes ``out/status.json`` and prints markers on the serial console, which
this driver watches to time each phase and to enforce a timeout per phase.

Use from a test::

    image = image_mod.ensure_image()
    with Guest(tmp_path / "vm", image, repo_dir=repo.ensure_repo(image)) as guest:
        result = guest.run_step("uname -r > $E2E_OUT/uname", timeout=120, name="uname")
        result.require()                    # raises E2EError naming the step and phase
        assert result.read("uname").strip() == image.kernel_release
        crash = guest.run_step("echo c > /proc/sysrq-trigger", name="crash", expect_crash=True)
        crash.require()                     # panicked and QEMU exited (capture kernel rebooted)

Inside a step: ``$E2E_SHARE`` is the share (``/mnt/host``), ``$E2E_OUT`` the output directory;
a step may write ``$E2E_OUT/result.json`` for structured results (``StepResult.data``).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.hostcmd import E2EError, run

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "artifacts" / "e2e"
MARKER = "KDUMP-E2E: "
PANIC_RE = re.compile(r"Kernel panic - not syncing: ([^\r\n]*)")
# The capture kernel's console once the dump is on disk (kdump-tools, makedumpfile).
DUMP_SAVED_RE = re.compile(r"saved vmcore in|makedumpfile Completed|The dumpfile is saved to")
POLL_SECONDS = 0.25


@dataclass
class StepResult:
    """What one boot produced. ``outcome`` is one of ``completed`` (the step ran and the guest
    powered off), ``crashed`` (the kernel panicked and QEMU exited: the capture kernel or
    ``panic=N`` rebooted it), ``timeout`` or ``exited`` (QEMU ended before the step finished);
    ``phase`` is where it ended (boot, step, shutdown, crash)."""

    name: str
    outcome: str
    phase: str
    expect_crash: bool
    exit_status: int | None
    status: dict | None
    data: dict | None
    stdout: str
    stderr: str
    serial: str
    qemu_returncode: int | None
    panic: str | None
    seconds: dict = field(default_factory=dict)
    out_dir: str = ""
    artifact_dir: str | None = None

    @property
    def ok(self):
        if self.expect_crash:
            return self.outcome == "crashed"
        return self.outcome == "completed" and self.exit_status == 0

    def read(self, name):
        """Text of a file the step wrote into ``$E2E_OUT``."""
        return Path(self.out_dir, name).read_text(encoding="utf-8", errors="replace")

    def describe(self):
        expected = "a crash" if self.expect_crash else "exit 0"
        lines = [
            f"step {self.name!r}: outcome {self.outcome} in phase {self.phase} (expected {expected}); "
            f"step exit status {self.exit_status}, qemu exit {self.qemu_returncode}, seconds {self.seconds}",
        ]
        if self.panic:
            lines.append(f"kernel panic: {self.panic}")
        if self.stderr.strip():
            lines.append("step stderr (tail):\n" + self.stderr[-3000:])
        if self.stdout.strip():
            lines.append("step stdout (tail):\n" + self.stdout[-1500:])
        lines.append("serial console (tail):\n" + self.serial[-3000:])
        if self.artifact_dir:
            lines.append(f"artifacts kept in {self.artifact_dir}")
        return "\n".join(lines)

    def require(self):
        """Raise E2EError naming the step and the phase unless the step did what was expected."""
        if not self.ok:
            raise E2EError(f"step {self.name}/{self.phase}", self.describe())
        return self


class Guest:
    """One test guest: a qcow2 overlay over the cached base image, a blank second disk for the
    dump volume group, and a 9p share; each ``run_step`` is one boot in a new QEMU process."""

    def __init__(self, workdir, image, repo_dir=None, memory_mb=1024, smp=2, dump_disk_size="2G",
                 log=print, keep_disks=False):
        """``keep_disks``: reuse the disks already in ``workdir`` (the next boot of that machine)."""
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.image = image
        self.memory_mb = memory_mb
        self.smp = smp
        self.log = log
        self.share = self.workdir / "share"
        self.share.mkdir(exist_ok=True)
        self.root_disk = self.workdir / "root.qcow2"
        self.dump_disk = self.workdir / "dump.raw"
        self.steps = 0
        self._proc = None
        #: ``(kernel, initrd, cmdline)`` host paths and the command line for QEMU's direct
        #: kernel boot (GRUB skipped: the command line is the host's to set); None: GRUB boots.
        self.direct_kernel = None
        if not (keep_disks and self.root_disk.exists() and self.dump_disk.exists()):
            run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", image.path, "-F", "raw", self.root_disk],
                "guest-disk")
            run(["truncate", "-s", dump_disk_size, self.dump_disk], "guest-disk")
        if repo_dir is not None:
            _link_tree(Path(repo_dir), self.share / "repo")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Kill this guest's QEMU if one is still running (never anything else)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with _suppress_lookup():
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    def qemu_argv(self, serial_path):
        argv = qemu_argv("kdump-e2e", self.memory_mb, self.smp, serial_path, self.root_disk,
                         self.dump_disk, self.share)
        if self.direct_kernel is not None:
            kernel, initrd, cmdline = self.direct_kernel
            argv += ["-kernel", str(kernel), "-initrd", str(initrd), "-append", cmdline]
        return argv

    def run_step(self, script_text, timeout=600, name=None, expect_crash=False,
                 boot_timeout=900, shutdown_timeout=300, crash_timeout=900):
        """Boot the guest once, run ``script_text`` (bash) as its step, and wait for QEMU to exit.

        :param script_text: the step, run by bash in the guest as root
        :param timeout: seconds allowed for the step itself (after the guest booted)
        :param name: label for logs and artifacts (default ``stepN``)
        :param expect_crash: the step crashes the kernel; success = panic and QEMU exit
        :param boot_timeout: seconds from QEMU start to the step starting
        :param shutdown_timeout: seconds from the step's end to QEMU's exit
        :param crash_timeout: seconds from the panic to QEMU's exit (capture kernel saves, reboots)
        :return: StepResult; call ``.require()`` to turn a failure into an error
        """
        self.steps += 1
        name = name or f"step{self.steps}"
        tag = f"{self.steps:02d}-{_slug(name)}"
        out = self.share / "out"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        (self.share / "step.sh").write_text(script_text, encoding="utf-8")
        serial_path = self.workdir / f"serial-{tag}.log"
        serial_path.write_bytes(b"")
        qemu_log = self.workdir / f"qemu-{tag}.log"
        argv = self.qemu_argv(serial_path)
        self.log(f"guest: boot {tag}: {' '.join(argv)}")

        started = time.monotonic()
        marks = {}
        phase = "boot"
        deadline = started + boot_timeout
        outcome = None
        with open(qemu_log, "wb") as qemu_out:
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=qemu_out,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        try:
            while True:
                returncode = self._proc.poll()
                serial = _read_text(serial_path)
                now = time.monotonic()
                if "step-start" not in marks and MARKER + "step-start" in serial:
                    marks["step-start"] = now
                    phase, deadline = "step", now + timeout
                if "step-end" not in marks and MARKER + "step-end" in serial:
                    marks["step-end"] = now
                    phase, deadline = "shutdown", now + shutdown_timeout
                if "panic" not in marks and PANIC_RE.search(serial):
                    marks["panic"] = now
                    phase, deadline = "crash", now + crash_timeout
                if returncode is not None:
                    marks["exit"] = now
                    if "step-end" in marks:
                        outcome = "completed"
                    elif "panic" in marks:
                        outcome = "crashed"
                    else:
                        outcome = "exited"
                    break
                if now > deadline:
                    outcome = "timeout"
                    break
                time.sleep(POLL_SECONDS)
        finally:
            self.close()
        qemu_returncode = returncode
        serial = _read_text(serial_path)
        status = _read_json(out / "status.json")
        panic = PANIC_RE.search(serial)
        seconds = _phase_seconds(started, marks)
        result = StepResult(
            name=name,
            outcome=outcome,
            phase=phase,
            expect_crash=expect_crash,
            exit_status=status.get("exit_status") if status else None,
            status=status,
            data=_read_json(out / "result.json"),
            stdout=_read_text(out / "step.stdout"),
            stderr=_read_text(out / "step.stderr"),
            serial=serial,
            qemu_returncode=qemu_returncode,
            panic=panic.group(1).strip() if panic else None,
            seconds=seconds,
            out_dir=str(out),
        )
        if outcome == "exited" and qemu_returncode not in (0, None):
            result.stderr += "\nqemu:\n" + _read_text(qemu_log)[-3000:]
        if not result.ok:
            result.artifact_dir = str(self._keep_artifacts(tag, serial_path, qemu_log, out))
        self.log(f"guest: {tag}: {outcome} in {phase}, step exit {result.exit_status}, {seconds}")
        return result

    def _keep_artifacts(self, tag, serial_path, qemu_log, out):
        dest = ARTIFACTS / f"{time.strftime('%Y%m%d-%H%M%S')}-{tag}"
        dest.mkdir(parents=True, exist_ok=True)
        for path in (serial_path, qemu_log, self.share / "step.sh"):
            if path.exists():
                shutil.copy2(path, dest / path.name)
        if out.exists():
            shutil.copytree(out, dest / "out", dirs_exist_ok=True)
        return dest


TCG = "tcg,thread=multi"


def qemu_argv(name, memory_mb, smp, serial_path, root_disk, dump_disk, share, net=("-nic", "none"), accel=TCG):
    """One boot of a test guest: TCG (``accel``: e.g. ``kvm`` for the demo where it works),
    ``-no-reboot``, serial console to a file, the root overlay and the dump disk on virtio,
    the 9p share; no network unless ``net`` gives one."""
    return [
        "qemu-system-x86_64",
        "-name", name,
        "-accel", accel,
        "-cpu", "max",
        "-machine", "pc",
        "-m", str(memory_mb),
        "-smp", str(smp),
        "-nodefaults",
        "-display", "none",
        "-no-reboot",
        "-serial", f"file:{serial_path}",
        *net,
        "-drive", f"file={root_disk},if=virtio,format=qcow2",
        "-drive", f"file={dump_disk},if=virtio,format=raw",
        "-virtfs", f"local,path={share},mount_tag=host0,security_model=none,id=host0",
    ]


def _phase_seconds(started, marks):
    seconds = {}
    if "step-start" in marks:
        seconds["boot"] = marks["step-start"] - started
        if "step-end" in marks:
            seconds["step"] = marks["step-end"] - marks["step-start"]
            if "exit" in marks:
                seconds["shutdown"] = marks["exit"] - marks["step-end"]
    if "panic" in marks and "exit" in marks:
        seconds["crash_to_exit"] = marks["exit"] - marks["panic"]
    if "exit" in marks:
        seconds["total"] = marks["exit"] - started
    return {key: round(value, 1) for key, value in seconds.items()}


def _link_tree(src, dest):
    """Hard-link a cached tree onto the share (copy across filesystems)."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for path in src.iterdir():
        if path.is_file():
            try:
                os.link(path, dest / path.name)
            except OSError:
                shutil.copy2(path, dest / path.name)


def _read_text(path):
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _read_json(path):
    text = _read_text(path)
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return {"unparsable": text[-2000:]}


def _slug(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:40]


class _suppress_lookup:
    """The process group may already be gone."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        return exc_type is ProcessLookupError
