"""`make demo`: the formula's main job on a throwaway fleet of Debian guests.

Why: the README promises that a master applies kdump to a fleet from pillar, reboots it
into the reservation only through the guarded runner, and proves every dump by crashing the
fleet in stages. This runs exactly that, end to end, on real kernels, and leaves a report:

1. checks the host (root, QEMU, socat, memory) and says how long to expect;
2. takes the cached ``fleet`` guest images (``tests/e2e/image.py``; built on first use);
3. starts a real ``salt-master`` of the venv on 127.0.0.1 (generated config in a temp dir);
4. boots the guests (``tests/e2e/fleet.py``: each a salt-minion that reaches only the
   master's two ports) and waits until every minion answers;
5. ``saltutil.sync_all`` on the minions and the master;
6. the site's volume group ``rootvg`` on each guest's second disk (site setup, not formula work);
7. ``state.apply`` (highstate) with the fleet tier's pillar;
8. ``salt-run kdump.reboot_pending '*' confirm='*'``: the guarded reboot into the reservation;
9. ``salt-run kdump.crashtest '*' canary=1 wave_size=2 analyze=True report=... junit=...``:
   the table (outputter ``kdump_report``) and the HTML report under ``artifacts/demo/``.

Everything it started (QEMU, the master, salt commands) is stopped, the logs (master, serial
consoles, minions) copied next to the report, and its temp dir removed, when it ends, fails or
is interrupted (Ctrl-C, SIGTERM, SIGHUP).

.. code-block:: bash

    make demo                                   # 3 guests: 2 Debian 13 + 1 Debian 12
    .venv/bin/python -m demo.fleet_demo --plan  # what it would do; boots nothing
    .venv/bin/python -m demo.fleet_demo --guests 2 --keep
"""

import argparse
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: the checkout's packages (tests.e2e)
    sys.path.insert(0, str(REPO))

import yaml  # noqa: E402  pylint: disable=wrong-import-position

from tests.e2e import fleet as fl  # noqa: E402  pylint: disable=wrong-import-position
from tests.e2e import image as image_mod  # noqa: E402  pylint: disable=wrong-import-position
from tests.e2e.guest import TCG, qemu_argv  # noqa: E402  pylint: disable=wrong-import-position

MAX_GUESTS = 8
DEFAULT_GUESTS = 3
GUEST_MEMORY_MB = 1024
# Host memory each guest needs: its RAM plus QEMU's own and the page cache of its disks.
HOST_MB_PER_GUEST = 1280
BIN = Path(sys.executable).parent  # the venv's salt-master, salt, salt-run, salt-key
HOST_TOOLS = ("qemu-system-x86_64", "qemu-img", "socat")
KVM_GET_API_VERSION = 0xAE00
KVM_CREATE_VM = 0xAE01
KVM_API_VERSION = 12
# Same waits as the fleet tier (tests/e2e/test_fleet.py RUN_ARGS).
RUNNER_WAITS = ["reboot_timeout=900", "poll_interval=5", "timeout=90"]
FIRST_BOOT_TIMEOUT = 900
PHASES = (
    ("preflight", "check the host, say how long to expect"),
    ("images", "the cached Debian fleet images (built on first use)"),
    ("master", "a salt-master of the venv on 127.0.0.1, config in the work dir"),
    ("boot", "power the guests on, wait until every minion answers test.ping"),
    ("sync", "saltutil.sync_all on the minions and on the master"),
    ("site", "the site's VG rootvg on each guest's /dev/vdb (setup, not formula work)"),
    ("highstate", "state.apply on every minion (the formula, from the fleet pillar)"),
    ("reboot", "guarded reboot into the reservation"),
    ("crashtest", "staged crash test: canary, then waves of 2; table and reports"),
)


class DemoError(RuntimeError):
    """A phase failed; the message says which and why."""


class Interrupted(BaseException):
    """SIGTERM or SIGHUP: unwinds like Ctrl-C so that cleanup runs."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# --------------------------------------------------------------------------- pure parts


@dataclass
class Options:
    guests: int = DEFAULT_GUESTS
    keep: bool = False
    plan: bool = False
    accel: str = "auto"
    stay: bool = False


def _guest_count(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_GUESTS:
        raise argparse.ArgumentTypeError(f"{value} is out of range 1-{MAX_GUESTS} (each guest takes "
                                         f"{GUEST_MEMORY_MB} MiB of RAM and a share of the CPUs)")
    return value


def parse_args(argv=None):
    """The command line; argparse exits 2 naming the option on a bad value."""
    parser = argparse.ArgumentParser(
        prog="make demo", description="kdump-formula on a throwaway fleet of Debian guests under QEMU: "
        "highstate, guarded reboot, staged crash test, HTML report.")
    parser.add_argument("--guests", type=_guest_count, default=DEFAULT_GUESTS,
                        help=f"number of guests, 1-{MAX_GUESTS} (default {DEFAULT_GUESTS}: "
                        "2 Debian 13 + 1 Debian 12; about a third are Debian 12)")
    parser.add_argument("--keep", action="store_true",
                        help="leave the work dir (master config and log, guest disks and serial logs)")
    parser.add_argument("--stay", action="store_true",
                        help="after a successful run, keep the master and the guests up (salt commands "
                        "printed) until Ctrl-C; then clean up as usual")
    parser.add_argument("--plan", action="store_true", help="print what it would do and exit; boots nothing")
    parser.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto",
                        help="auto (default): KVM when /dev/kvm really starts a machine, else TCG")
    args = parser.parse_args(argv)
    return Options(guests=args.guests, keep=args.keep, stay=args.stay, plan=args.plan, accel=args.accel)


def fleet_layout(count):
    """``[(minion id, suite)]``: Debian 13 guests first, about a third Debian 12 (at least one
    when there are two or more). Three guests are exactly the fleet tier's."""
    bookworms = 0 if count == 1 else max(1, round(count / 3))
    trixies = count - bookworms
    letters = "abcdefgh"
    layout = [(f"kf-trixie-{letters[i]}", "trixie") for i in range(trixies)]
    if bookworms == 1:
        layout.append(("kf-bookworm", "bookworm"))
    else:
        layout.extend((f"kf-bookworm-{letters[i]}", "bookworm") for i in range(bookworms))
    return layout


def special_minion(layout):
    """The minion with its own pillar (dump level, fixed volume size, measured crashkernel):
    the first Debian 12."""
    return next((mid for mid, suite in layout if suite == "bookworm"), None)


@dataclass
class Accel:
    name: str  # "kvm" | "tcg"
    qemu: str  # the -accel value
    reason: str


def kvm_device_status(path="/dev/kvm"):
    """``(ok, reason)``: the KVM device opens and creates a VM (no QEMU involved)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        return False, f"{path}: {exc.strerror or exc}"
    try:
        try:
            version = fcntl.ioctl(fd, KVM_GET_API_VERSION, 0)
        except OSError as exc:
            return False, f"{path}: not a KVM device ({exc.strerror or exc})"
        if version != KVM_API_VERSION:
            return False, f"{path}: KVM API version {version}, expected {KVM_API_VERSION}"
        try:
            os.close(fcntl.ioctl(fd, KVM_CREATE_VM, 0))
        except OSError as exc:
            return False, f"{path}: cannot create a VM ({exc.strerror or exc})"
    finally:
        os.close(fd)
    return True, f"{path} creates VMs"


# A BIOS boot sector (loaded at 0x7c00, real mode): "OK" and a newline out of COM1 (0x3f8),
# then the isa-debug-exit port (0xf4) ends QEMU with status (0 << 1) | 1 = 1. Booting it
# costs the firmware's start and nothing else, under either accelerator.
PROBE_SECTOR = bytes([
    0xBA, 0xF8, 0x03,        # mov dx, 0x3f8
    0xB0, 0x4F, 0xEE,        # mov al, 'O'; out dx, al
    0xB0, 0x4B, 0xEE,        # mov al, 'K'; out dx, al
    0xB0, 0x0A, 0xEE,        # mov al, 10;  out dx, al
    0xB0, 0x00, 0xE6, 0xF4,  # mov al, 0;   out 0xf4, al
    0xFA, 0xF4, 0xEB, 0xFD,  # cli; hlt; jmp back to hlt
])
PROBE_IMAGE = PROBE_SECTOR + bytes(510 - len(PROBE_SECTOR)) + b"\x55\xaa"
PROBE_EXIT = 1


def boot_probe(accel, qemu="qemu-system-x86_64", timeout=30):
    """``(seconds, reason)``: QEMU under ``accel`` boots PROBE_IMAGE through the firmware and
    the boot sector's "OK" reaches the serial port; ``seconds`` None when it does not."""
    with tempfile.TemporaryDirectory(prefix="kdump-demo-probe-") as work:
        disk = Path(work) / "probe.img"
        disk.write_bytes(PROBE_IMAGE)
        argv = [qemu, "-accel", accel, "-cpu", "max", "-machine", "pc", "-m", "64", "-nodefaults",
                "-display", "none", "-no-reboot", "-serial", "stdio",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                "-drive", f"file={disk},format=raw,if=floppy"]
        started = time.monotonic()
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except FileNotFoundError:
            return None, f"{qemu} is not installed"
        except subprocess.TimeoutExpired:
            return None, f"QEMU under {accel} did not boot a boot sector within {timeout}s"
        seconds = time.monotonic() - started
    if proc.returncode == PROBE_EXIT and "OK" in proc.stdout:
        return seconds, f"QEMU under {accel} boots a boot sector in {seconds:.1f}s"
    lines = [line.strip() for line in proc.stderr.splitlines() if line.strip() and "warning" not in line]
    detail = lines[0] if lines else f"exit {proc.returncode}, serial {proc.stdout.strip()[:40]!r}"
    return None, f"QEMU cannot run a machine under {accel} here: {detail}"


def kvm_probe(qemu="qemu-system-x86_64", timeout=30):
    """``(ok, reason)``: KVM runs guest code, and no slower than TCG. Catches the hosts where
    /dev/kvm opens but QEMU aborts setting up the vCPU ("failed to set MSR" under nested
    virtualisation) and those where the firmware crawls under KVM: a guest that takes longer to
    reach its boot sector under KVM than under TCG is better off on TCG."""
    kvm, reason = boot_probe("kvm", qemu, timeout)
    if kvm is None:
        return False, reason
    tcg, _ = boot_probe(TCG, qemu, timeout)
    if tcg is not None and kvm > tcg:
        return False, (f"KVM runs guest code slower than TCG here: a boot sector took {kvm:.1f}s "
                       f"under KVM, {tcg:.1f}s under TCG")
    return True, f"{reason} (TCG: {'did not' if tcg is None else f'{tcg:.1f}s'})"


def detect_accel(choice="auto", device=kvm_device_status, probe=kvm_probe):
    """The accelerator for the guests: KVM when it really works, else TCG (``choice`` tcg
    forces TCG; kvm raises DemoError when KVM does not work)."""
    if choice == "tcg":
        return Accel("tcg", TCG, "--accel tcg")
    ok, reason = device()
    if ok:
        ok, reason = probe()
    if ok:
        return Accel("kvm", "kvm", reason)
    if choice == "kvm":
        raise DemoError(f"--accel kvm: KVM does not work on this host: {reason}")
    return Accel("tcg", TCG, f"no working KVM: {reason}")


# salt-run 3008.4 (salt/cli/run.py) never closes its own Runner: at exit Salt warns about it
# ("unclosed Runner ...; call ``destroy()``", and its MasterMinion). Salt's, not the runner's.
SALT_RUN_EXIT_NOISE = re.compile(r"^unclosed (Runner|MasterMinion) <salt\.\S+ object at 0x[0-9a-f]+>; call ``destroy\(\)``")
# What the TCG estimate rests on: the one real run of the default demo on the reference host.
TCG_MEASURED = "3 guests on 2 cores took 12 min here, images cached"


def expected_minutes(count, accel, missing_images=0):
    """``(low, high)`` minutes for the whole run on a 2-core host. TCG: from the measured run
    (TCG_MEASURED: boot 2 min, highstate 1.5, guarded reboot 2.5, crash test 5 for 3 guests
    that share 2 cores), with room above it; KVM: an estimate, not measured here. Each image
    not cached yet adds its build (about 2 min measured, at host speed in a chroot)."""
    if accel == "kvm":
        low, high = 2 + count, 4 + 2 * count
    else:
        low, high = 2 + 3 * count, 6 + 5 * count
    return low + 2 * missing_images, high + 5 * missing_images


def host_problems(euid, which, meminfo_text, count, bin_dir=BIN):
    """Everything that would stop the run, all at once (empty: good to go)."""
    problems = []
    if euid != 0:
        problems.append("root: the demo needs root (image build: loop devices, mounts, chroot)")
    for tool in HOST_TOOLS:
        if not which(tool):
            problems.append(f"{tool}: not installed (make apt installs it)")
    for tool in ("salt-master", "salt", "salt-run", "salt-key"):
        if not (Path(bin_dir) / tool).exists():
            problems.append(f"{tool}: not in the venv {bin_dir} (make venv)")
    available = _mem_available_mb(meminfo_text)
    needed = count * HOST_MB_PER_GUEST
    if available is not None and available < needed:
        problems.append(f"memory: {count} guests need about {needed} MiB, {available} MiB available "
                        "(use --guests)")
    return problems


def _mem_available_mb(meminfo_text):
    for line in meminfo_text.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return None


def master_config(root, ports, file_roots, pillar_roots, user):
    """The demo master's config: everything under ``root``, listening on 127.0.0.1 only,
    keys of the throwaway guests accepted."""
    return {
        "root_dir": str(root),
        "user": user,
        "interface": "127.0.0.1",
        "publish_port": ports["publish_port"],
        "ret_port": ports["ret_port"],
        "file_roots": {"base": list(file_roots)},
        "pillar_roots": {"base": list(pillar_roots)},
        "auto_accept": True,
        "timeout": 60,
        "gather_job_timeout": 30,
        "log_file": str(Path(root) / "master.log"),
        "log_level_logfile": "info",
        "key_logfile": str(Path(root) / "key.log"),
    }


def master_argv(config_dir):
    """The venv's salt-master in the foreground (the demo owns its process group)."""
    return [str(BIN / "salt-master"), "-c", str(config_dir), "-l", "warning"]


def guest_argv_example(workdir, mid, accel):
    """One boot of guest ``mid`` as ``FleetGuest`` starts it (the master's ports are chosen
    at start: shown as placeholders)."""
    vm = Path(workdir) / "guests" / mid
    return qemu_argv(f"kdump-fleet-{mid}", GUEST_MEMORY_MB, 1, vm / "serial-NN.log", vm / "root.qcow2",
                     vm / "dump.raw", vm / "share", fl.netdev_args("<publish_port>", "<ret_port>"), accel=accel)


def salt_commands(config_dir, layout, report, junit):
    """The salt commands of each phase, as argument lists (what ``--plan`` prints and the
    run executes)."""
    conf = ["-c", str(config_dir)]
    salt = [str(BIN / "salt"), *conf, "--out=json", "--static"]
    run = [str(BIN / "salt-run"), *conf]
    batch = min(len(layout), 3)
    return {
        "boot": [[*salt, "-t", "60", "*", "test.ping"]],
        "sync": [[*salt, "-t", "300", "*", "saltutil.sync_all"], [*run, "--out=json", "saltutil.sync_all"]],
        "site": [[*salt, "-t", "300", "*", "lvm.pvcreate", "/dev/vdb"],
                 [*salt, "-t", "300", "*", "lvm.vgcreate", "rootvg", "/dev/vdb"]],
        "highstate": [[*salt, "-t", "3000", "*", "state.apply"]],
        "reboot": [[*run, "kdump.reboot_pending", "*", "confirm=*", f"batch={batch}", *RUNNER_WAITS]],
        "crashtest": [[*run, "kdump.crashtest", "*", "canary=1", "wave_size=2", "analyze=True",
                       f"report={report}", f"junit={junit}", *RUNNER_WAITS]],
    }


def summarize_states(data, ids):
    """``(ok, lines)`` of a ``state.apply`` return: per minion how many states, how many
    changed, and each failed state with its comment."""
    ok, lines = True, []
    for mid in ids:
        states = data.get(mid) if isinstance(data, dict) else None
        if not isinstance(states, dict):
            ok = False
            lines.append(f"{mid}: no state return: {str(states)[:300]}")
            continue
        failed = {key: ret for key, ret in states.items() if not isinstance(ret, dict) or ret.get("result") is not True}
        changed = [key for key, ret in states.items() if isinstance(ret, dict) and ret.get("changes")]
        lines.append(f"{mid}: {len(states)} states, {len(changed)} changed, {len(failed)} failed")
        for key, ret in failed.items():
            ok = False
            comment = ret.get("comment") if isinstance(ret, dict) else ret
            lines.append(f"  failed {key.split('_|-')[1] if '_|-' in key else key}: {str(comment)[:400]}")
    return ok, lines


def answering(data, ids):
    """The minions of ``ids`` that answered ``True`` in a ``test.ping`` return."""
    data = data if isinstance(data, dict) else {}
    return [mid for mid in ids if data.get(mid) is True]


def plan_lines(options, layout, accel, cached, paths, problems):
    """What the run would do, phase by phase, with its commands, the pillar and the time."""
    missing = [suite for suite, is_cached in cached.items() if not is_cached]
    low, high = expected_minutes(len(layout), accel.name, len(missing))
    commands = salt_commands(paths["config_dir"], layout, paths["report"], paths["junit"])
    lines = [f"kdump-formula demo plan: {len(layout)} guest(s), {GUEST_MEMORY_MB} MiB and 1 vCPU each, "
             f"on {os.cpu_count()} host CPU(s)",
             f"accelerator: {accel.name} ({accel.reason})",
             f"expected: about {low}-{high} min" + (f", including {len(missing)} image build(s)" if missing else "")]
    if accel.name == "tcg":
        lines.append(f"  (TCG: {TCG_MEASURED})")
    else:
        lines.append("  (KVM: an estimate, not measured on the reference machine)")
    if problems:
        lines.append("the run would stop at preflight:")
        lines.extend(f"  {problem}" for problem in problems)
    lines.append("guests:")
    special = special_minion(layout)
    for mid, suite in layout:
        extra = (f"  own pillar: dump_level {fl.SPECIAL_DUMP_LEVEL}, volume {fl.SPECIAL_SIZE}, "
                 f"crashkernel {fl.SPECIAL_CRASHKERNEL}") if mid == special else ""
        lines.append(f"  {mid:<16} Debian {suite}{extra}")
    for number, (key, what) in enumerate(PHASES, 1):
        lines.append(f"{number}. {key}: {what}")
        if key == "images":
            lines.extend(f"   {suite}: {'cached' if cached[suite] else 'to build (2-5 min)'}" for suite in cached)
        if key == "master":
            lines.append("   $ " + " ".join(_quoted(arg) for arg in master_argv(paths["config_dir"])))
        if key == "boot":
            lines.append(f"   per guest, a new QEMU process per boot (-no-reboot), e.g. {layout[0][0]}:")
            lines.append("   $ " + " ".join(_quoted(str(arg)) for arg in
                                            guest_argv_example(paths["workdir"], layout[0][0], accel.qemu)))
        for argv in commands.get(key, []):
            lines.append("   $ " + " ".join(_quoted(arg) for arg in argv))
    lines.append(f"work dir: {paths['workdir']} (removed at the end unless --keep)")
    lines.append(f"report: {paths['report']}, JUnit: {paths['junit']}")
    lines.append(f"logs: {paths['logs']} (master, serial consoles, minions; copied at the end)")
    top, sls = fl.fleet_pillars(special)
    lines.append("pillar top.sls:")
    lines.extend("  " + line for line in yaml.safe_dump(top, sort_keys=False).splitlines())
    for name, data in sls.items():
        lines.append(f"pillar {name}.sls:")
        lines.extend("  " + line for line in yaml.safe_dump(data, sort_keys=False).splitlines())
    return lines


def _quoted(arg):
    return arg if arg and all(c.isalnum() or c in "/-_.=,:" for c in arg) else f"'{arg}'"


def free_ports(count):
    """``count`` distinct free TCP ports on 127.0.0.1."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


# --------------------------------------------------------------------------- cleanup


class Cleanup:
    """What to undo, last first: processes (their whole process group), guests, dirs.

    ``run`` ignores SIGINT/SIGTERM/SIGHUP while it works, so a second Ctrl-C cannot leave a
    QEMU or a master behind; every wait in it is bounded."""

    def __init__(self, log=print):
        self.log = log
        self._actions = []

    def add(self, label, func):
        self._actions.append((label, func))

    def spawn(self, label, argv, **kwargs):
        """Start ``argv`` in its own process group and stop that group at cleanup."""
        proc = subprocess.Popen(argv, start_new_session=True, **kwargs)
        self.add(f"{label} (pid {proc.pid})", lambda: stop_group(proc))
        return proc

    def remove_dir(self, path, keep=False):
        if keep:
            self.add(f"keep {path}", lambda: self.log(f"work dir kept: {path}"))
        else:
            self.add(f"remove {path}", lambda: shutil.rmtree(path, ignore_errors=True))

    def run(self):
        saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            while self._actions:
                label, func = self._actions.pop()
                try:
                    func()
                except Exception as exc:  # pylint: disable=broad-except
                    self.log(f"cleanup: {label}: {exc!r}")
        finally:
            for sig, handler in saved.items():
                signal.signal(sig, handler)


def stop_group(proc, grace=15):
    """Stop the process group of ``proc`` (started with ``start_new_session``): SIGTERM,
    SIGKILL after ``grace`` seconds, then SIGKILL to what is left of the group (a master's
    workers). A process that already ended and was reaped is left alone: its id may be
    someone else's by now."""
    if proc.poll() is not None:
        return
    _killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        _killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    _killpg(proc.pid, signal.SIGKILL)


def _killpg(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def install_signal_handlers():
    """Ctrl-C raises KeyboardInterrupt (even when started with SIGINT ignored), SIGTERM and
    SIGHUP unwind the same way (``Interrupted``), so ``finally`` cleans up."""
    def handler(signum, _frame):
        raise Interrupted(signum)

    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


# --------------------------------------------------------------------------- the run


class Demo:
    """One run: the phases in order, each announced with the elapsed time."""

    def __init__(self, options, accel, layout, paths, out=print):
        self.options = options
        self.accel = accel
        self.layout = layout
        self.ids = [mid for mid, _suite in layout]
        self.paths = paths
        self.out = out
        self.started = time.monotonic()
        self.cleanup = Cleanup(log=self.say)
        self.guests = {}
        self.commands = salt_commands(paths["config_dir"], layout, paths["report"], paths["junit"])

    def stamp(self):
        seconds = int(time.monotonic() - self.started)
        return f"[{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}]"

    def say(self, message):
        self.out(f"{self.stamp()} {message}", flush=True)

    def run(self):
        for number, (key, what) in enumerate(PHASES, 1):
            self.say(f"phase {number}/{len(PHASES)} {key}: {what}")
            began = time.monotonic()
            getattr(self, f"phase_{key}")()
            self.say(f"phase {key} done in {time.monotonic() - began:.0f} s")

    # -- phases

    def phase_preflight(self):
        problems = host_problems(os.geteuid(), shutil.which, Path("/proc/meminfo").read_text(encoding="utf-8"),
                                 len(self.layout))
        if problems:
            raise DemoError("preflight:\n  " + "\n  ".join(problems))
        cached = {suite: image_mod.cached_image(suite, "fleet") is not None for suite in self._suites()}
        low, high = expected_minutes(len(self.layout), self.accel.name, list(cached.values()).count(False))
        self.say(f"{len(self.layout)} guests ({', '.join(f'{m} {s}' for m, s in self.layout)}); "
                 f"accelerator {self.accel.name} ({self.accel.reason})")
        self.say(f"expect about {low}-{high} min" + (f" (TCG: {TCG_MEASURED})"
                                                     if self.accel.name == "tcg" else " (KVM: estimate)"))
        self.paths["workdir"].mkdir(parents=True, exist_ok=True)
        self.cleanup.remove_dir(self.paths["workdir"], keep=self.options.keep)
        # runs after every process registered later has stopped, before the work dir goes
        self.cleanup.add("keep the logs", self.save_logs)

    def phase_images(self):
        self.images = {}
        for suite in self._suites():
            was_cached = image_mod.cached_image(suite, "fleet") is not None
            self.images[suite] = image_mod.ensure_image(self.say, suite=suite, variant="fleet")
            self.say(f"{suite}: {'cached' if was_cached else 'built'} {self.images[suite].path} "
                     f"(kernel {self.images[suite].kernel_release})")

    def phase_master(self):
        work = self.paths["workdir"]
        top = {"base": {"*": ["kdump"]}}
        file_roots = fl.stage_file_roots(work / "srv" / "file_roots", REPO, top)
        pillar_top, pillar_sls = fl.fleet_pillars(special_minion(self.layout))
        pillar_roots = fl.stage_pillar_roots(work / "srv" / "pillar", pillar_top, pillar_sls)
        self.ports = dict(zip(("publish_port", "ret_port"), free_ports(2)))
        self.master = start_master(self.cleanup, self.paths["config_dir"], work / "master", self.ports,
                                   file_roots, pillar_roots)
        self.say(f"salt-master pid {self.master.pid} on 127.0.0.1:{self.ports['publish_port']}/"
                 f"{self.ports['ret_port']}, config {self.paths['config_dir'] / 'master'}")

    def phase_boot(self):
        for mid, suite in self.layout:
            guest = fl.FleetGuest(mid, self.images[suite], self.paths["workdir"] / "guests" / mid, self.ports,
                                  memory_mb=GUEST_MEMORY_MB, log=self.say, accel=self.accel.qemu)
            self.cleanup.add(f"power off {mid}", guest.power_off)
            self.guests[mid] = guest
            guest.power_on()
        self.wait_answering(FIRST_BOOT_TIMEOUT)

    def phase_sync(self):
        minions, master = self.commands["sync"]
        data = self.salt_json(minions, "sync the minions")
        missing = [mid for mid in self.ids if not isinstance(data.get(mid), dict)]
        if missing:
            raise DemoError(f"sync: {missing} did not sync: {data}")
        data = self.salt_json(master, "sync the master")
        runners = data.get("runners", []) if isinstance(data, dict) else []
        if "runners.kdump" not in runners:
            raise DemoError(f"sync: the master did not get the kdump runner: {data}")
        self.say(f"master has {', '.join(runners + data.get('output', []))}")

    def phase_site(self):
        for argv in self.commands["site"]:
            function = argv[argv.index("*") + 1]
            data = self.salt_json(argv, function)
            bad = {mid: data.get(mid) for mid in self.ids if not data.get(mid)}
            if bad:
                raise DemoError(f"site: {function} failed: {bad}")

    def phase_highstate(self):
        data = self.salt_json(self.commands["highstate"][0], "highstate")
        ok, lines = summarize_states(data, self.ids)
        for line in lines:
            self.say("  " + line)
        if not ok:
            raise DemoError("highstate: some states failed (above)")

    def phase_reboot(self):
        code = self.stream(self.commands["reboot"][0])
        if code != 0:
            raise DemoError(f"reboot: salt-run kdump.reboot_pending exited {code}")

    def phase_crashtest(self):
        Path(self.paths["report"]).parent.mkdir(parents=True, exist_ok=True)
        code = self.stream(self.commands["crashtest"][0])
        for name in ("report", "junit"):
            if Path(self.paths[name]).exists():
                self.say(f"{'HTML report' if name == 'report' else 'JUnit XML'}: {self.paths[name]}")
        if code != 0:
            raise DemoError(f"crashtest: salt-run kdump.crashtest exited {code}")

    # -- helpers

    def save_logs(self):
        if keep_logs(self.paths["workdir"], self.paths["logs"]):
            self.say(f"logs (master, serial consoles, minions): {self.paths['logs']}")

    def _suites(self):
        return list(dict.fromkeys(suite for _mid, suite in self.layout))

    def salt_json(self, argv, label, heartbeat=60, tolerant=False):
        """Run a salt command (JSON out), saying every ``heartbeat`` s that it still runs;
        ``tolerant``: no JSON (e.g. "No minions matched" before any key) gives ``{}``."""
        proc = self.cleanup.spawn(label, argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        began = time.monotonic()
        while True:
            try:
                stdout, stderr = proc.communicate(timeout=heartbeat)
                break
            except subprocess.TimeoutExpired:
                self.say(f"  {label}: still running ({time.monotonic() - began:.0f} s)")
        try:
            return json.loads(stdout)
        except ValueError:
            if tolerant:
                return {}
            raise DemoError(f"{label}: exit {proc.returncode}, no JSON: {stdout[-1500:]}{stderr[-1500:]}") from None

    def stream(self, argv):
        """Run a salt-run command, passing its lines (progress events, the table) through."""
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        proc = self.cleanup.spawn(argv[3], argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  env=env)
        for line in proc.stdout:
            if not SALT_RUN_EXIT_NOISE.match(line):
                self.out(f"{self.stamp()}   | {line.rstrip()}", flush=True)
        return proc.wait()

    def wait_answering(self, timeout):
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            dead = {mid: g.error for mid, g in self.guests.items() if g.error}
            if dead:
                raise DemoError(f"boot: power supply failed: {dead}")
            data = self.salt_json(self.commands["boot"][0], "test.ping", tolerant=True)
            now = answering(data, self.ids)
            if now != seen:
                seen = now
                self.say(f"answering: {', '.join(now) or 'none yet'} ({len(now)}/{len(self.ids)})")
            if len(now) == len(self.ids):
                return
            if time.monotonic() > deadline:
                raise DemoError(f"boot: {sorted(set(self.ids) - set(now))} did not answer within {timeout} s")
            time.sleep(5)


def start_master(cleanup, config_dir, root, ports, file_roots, pillar_roots, timeout=60):
    """Write the master config and start the venv's salt-master in its own process group;
    return its Popen once both ports accept connections."""
    import getpass  # pylint: disable=import-outside-toplevel

    Path(config_dir).mkdir(parents=True, exist_ok=True)
    Path(root).mkdir(parents=True, exist_ok=True)
    config = master_config(root, ports, file_roots, pillar_roots, getpass.getuser())
    (Path(config_dir) / "master").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    console = open(Path(root) / "console.log", "wb")  # pylint: disable=consider-using-with
    cleanup.add("close master console", console.close)
    proc = cleanup.spawn("salt-master", master_argv(config_dir),
                         stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise DemoError(f"master: salt-master exited {proc.returncode}: "
                            f"{(Path(root) / 'console.log').read_text(errors='replace')[-2000:]}")
        if all(_port_open(port) for port in ports.values()):
            return proc
        if time.monotonic() > deadline:
            raise DemoError(f"master: ports {ports} not open after {timeout} s")
        time.sleep(0.5)


def _port_open(port):
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


LOG_GLOBS = ("master/master.log", "master/console.log", "guests/*/serial-*.log", "guests/*/qemu-*.log",
             "guests/*/share/out/minion.log")


def keep_logs(workdir, dest):
    """Copy the master's and the guests' logs out of the work dir (which cleanup removes)
    into ``dest``; return how many files."""
    copied = 0
    for pattern in LOG_GLOBS:
        for path in sorted(Path(workdir).glob(pattern)):
            if path.is_file():
                target = Path(dest) / path.relative_to(workdir)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
                copied += 1
    return copied


def demo_paths(workdir=None, stamp=None):
    """The work dir (short: salt's socket paths are limited to 108 bytes) and the reports."""
    stamp = stamp or time.strftime("%Y%m%d-%H%M%S")
    workdir = Path(workdir) if workdir else Path(tempfile.gettempdir()) / f"kfdemo-{stamp}-{os.getpid()}"
    reports = REPO / "artifacts" / "demo" / stamp
    return {"workdir": workdir, "config_dir": workdir / "etc", "report": str(reports / "crashtest.html"),
            "junit": str(reports / "crashtest-junit.xml"), "logs": reports / "logs"}


def stay_lines(config_dir):
    """What to type to look around the fleet that ``--stay`` keeps up."""
    salt = f"{BIN / 'salt'} -c {config_dir}"
    return ["the fleet stays up until Ctrl-C (--stay); from another shell:",
            f"  {salt} '*' kdump.status",
            f"  {salt} '*' vmcore.list",
            f"  {BIN / 'salt-run'} -c {config_dir} kdump.audit '*'"]


def stay(say, config_dir, sleep=time.sleep):
    """Wait for Ctrl-C (or SIGTERM/SIGHUP) with the fleet up; the caller then cleans up."""
    for line in stay_lines(config_dir):
        say(line)
    try:
        while True:
            sleep(3600)
    except (KeyboardInterrupt, Interrupted):
        say("ending the stay")


def main(argv=None, out=print):
    options = parse_args(argv)
    layout = fleet_layout(options.guests)
    paths = demo_paths()
    try:
        accel = detect_accel(options.accel)
    except DemoError as exc:
        out(str(exc))
        return 2
    if options.plan:
        cached = {suite: image_mod.cached_image(suite, "fleet") is not None
                  for suite in dict.fromkeys(s for _m, s in layout)}
        problems = host_problems(os.geteuid(), shutil.which, Path("/proc/meminfo").read_text(encoding="utf-8"),
                                 len(layout))
        for line in plan_lines(options, layout, accel, cached, paths, problems):
            out(line)
        return 0
    install_signal_handlers()
    demo = Demo(options, accel, layout, paths, out=out)
    try:
        demo.run()
        demo.say("done: every minion was configured, rebooted into its reservation, crashed and its dump read")
        if options.stay:
            stay(demo.say, paths["config_dir"])
        return 0
    except DemoError as exc:
        demo.say(f"FAILED {exc}")
        return 1
    except (KeyboardInterrupt, Interrupted) as exc:
        demo.say(f"interrupted ({str(exc) or 'SIGINT'})")
        return 130
    finally:
        demo.say("cleaning up: guests, master, salt commands" + ("" if options.keep else ", work dir"))
        demo.cleanup.run()
        demo.say("cleaned up")


if __name__ == "__main__":
    sys.exit(main())
