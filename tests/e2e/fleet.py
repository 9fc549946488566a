"""A fleet of real Debian guests, each a salt-minion of a salt-master on the host.

Why: a fleet is how the formula is used: a master applies it by highstate, the minions
reboot into the reservation and ``salt-run kdump.crashtest`` crashes them in stages. This
module is the hardware of that fleet: per guest a qcow2 overlay over its suite's cached
``fleet`` image (kept across boots), a blank second disk for the dump VG, a 9p share with
its minion config, and a network that reaches ONLY the host master's two ports:

    -netdev user,restrict=on,guestfwd=tcp:10.0.2.100:4505-cmd:socat - TCP:127.0.0.1:<publish>,
                             guestfwd=tcp:10.0.2.100:4506-cmd:socat - TCP:127.0.0.1:<ret>

``restrict=on`` cuts the guest off from the host and the outside; each ``guestfwd`` starts
one ``socat`` per connection the guest opens to 10.0.2.100 (the per-connection form, since a
minion opens several connections to both ports). The guest gives itself 10.0.2.15/24
(``guest_files/kdump-fleet-prepare``); nothing else answers.

The power supply: QEMU runs with ``-no-reboot`` (an in-guest reboot makes GRUB crawl under
TCG), so a reboot, a power-off and the capture kernel's reboot after saving a dump all end
the process; a thread per guest starts a new QEMU process on the same disks whenever the
previous one exited, until the test ends. Each boot is recorded with host times of what the
serial console showed (minion start, panic, dump saved, exit), which the fleet test turns
into its measurements.
"""

import copy
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.e2e import formula as fx
from tests.e2e.guest import DUMP_SAVED_RE, PANIC_RE, TCG, qemu_argv
from tests.e2e.hostcmd import run

MASTER_IP = "10.0.2.100"
GUEST_PORTS = {"publish_port": 4505, "ret_port": 4506}
MINION_START_RE = re.compile(r"KDUMP-E2E: minion-start (\S+) (\S+)")
# A guest that keeps crashing (e.g. a capture kernel that panics) is not powered forever.
MAX_BOOTS = 12
# The fleet's pillar (the e2e pillar with an explicit reservation) and the minion with its
# own pillar by targeting: another dump level and a fixed dump volume size.
SPECIAL_DUMP_LEVEL = 17
SPECIAL_SIZE = "768M"
#: The special minion's reservation: the formula's own measurement (crashkernel.measure) of
#: the capture kernel and initrd on it, so the crash test proves that value captures.
SPECIAL_CRASHKERNEL = "measured"
FLEET_CRASHKERNEL = "192M"


def netdev_args(publish_port, ret_port):
    """QEMU user networking that reaches only the host master's two ports on 127.0.0.1."""
    forwards = ",".join(
        f"guestfwd=tcp:{MASTER_IP}:{guest_port}-cmd:socat - TCP:127.0.0.1:{host_port}"
        for guest_port, host_port in ((GUEST_PORTS["publish_port"], publish_port),
                                      (GUEST_PORTS["ret_port"], ret_port))
    )
    return ["-netdev", f"user,id=net0,restrict=on,{forwards}", "-device", "virtio-net-pci,netdev=net0"]


def minion_config(minion_id):
    """The guest minion's config (on its share): its id, the master behind the guestfwd."""
    return {
        "id": minion_id,
        "master": MASTER_IP,
        "publish_port": GUEST_PORTS["publish_port"],
        "master_port": GUEST_PORTS["ret_port"],
        "ipv6": False,
        # Nothing to resolve or probe in the guest: these grains only cost time under TCG.
        "enable_fqdns_grains": False,
        "enable_gpu_grains": False,
        # A job in a thread of the minion instead of a new process: forking and importing
        # cost 15-20 s per job under TCG on a loaded host.
        "multiprocessing": False,
        "acceptance_wait_time": 2,
        "acceptance_wait_time_max": 5,
        "auth_timeout": 30,
        "log_file": "/mnt/host/out/minion.log",
        "log_level_logfile": "info",
    }


@dataclass
class Boot:
    """One QEMU process of a guest; times are host ``time.monotonic()`` values."""

    number: int
    started: float
    serial: str
    minion_start: float | None = None
    boot_id: str | None = None
    panic: float | None = None
    panic_text: str | None = None
    dump_saved: float | None = None
    exited: float | None = None
    returncode: int | None = None

    def summary(self):
        def rel(value):
            return None if value is None else round(value - self.started, 1)

        return {"boot": self.number, "minion_start": rel(self.minion_start), "panic": rel(self.panic),
                "dump_saved": rel(self.dump_saved), "exit": rel(self.exited), "boot_id": self.boot_id,
                "panic_text": self.panic_text, "returncode": self.returncode}


@dataclass
class FleetGuest:
    """One guest of the fleet and its power supply."""

    minion_id: str
    image: object
    workdir: Path
    ports: dict
    memory_mb: int = 1024
    smp: int = 1
    dump_disk_size: str = "2G"
    log: object = print
    boots: list = field(default_factory=list)
    accel: str = TCG

    def __post_init__(self):
        self.workdir = Path(self.workdir)
        self.share = self.workdir / "share"
        (self.share / "out").mkdir(parents=True, exist_ok=True)
        (self.share / "salt-config").mkdir(exist_ok=True)
        (self.share / "salt-config" / "minion").write_text(
            yaml.safe_dump(minion_config(self.minion_id), sort_keys=False), encoding="utf-8")
        self.root_disk = self.workdir / "root.qcow2"
        self.dump_disk = self.workdir / "dump.raw"
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", self.image.path, "-F", "raw", self.root_disk],
            "fleet-disk")
        run(["truncate", "-s", self.dump_disk_size, self.dump_disk], "fleet-disk")
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._proc = None
        self._thread = None
        self.error = None

    def argv(self, serial_path):
        return qemu_argv(f"kdump-fleet-{self.minion_id}", self.memory_mb, self.smp, serial_path,
                         self.root_disk, self.dump_disk, self.share,
                         netdev_args(self.ports["publish_port"], self.ports["ret_port"]), accel=self.accel)

    def power_on(self):
        """Start the power supply thread: a new QEMU process whenever the last one exited."""
        self._thread = threading.Thread(target=self._supply, name=f"power-{self.minion_id}", daemon=True)
        self._thread.start()

    def power_off(self):
        """Stop the supply and kill this guest's QEMU (never anything else)."""
        self._stop.set()
        self._kill()
        if self._thread:
            self._thread.join(timeout=60)

    def _kill(self):
        with self._lock:
            proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=30)

    def boot_list(self):
        with self._lock:
            return list(self.boots)

    def _supply(self):
        try:
            while not self._stop.is_set() and len(self.boots) < MAX_BOOTS:
                self._one_boot(len(self.boots) + 1)
                time.sleep(0.5)
        except Exception as exc:  # pylint: disable=broad-except
            self.error = repr(exc)
            self.log(f"fleet: {self.minion_id}: power supply failed: {exc!r}")

    def _one_boot(self, number):
        serial_path = self.workdir / f"serial-{number:02d}.log"
        serial_path.write_bytes(b"")
        boot = Boot(number=number, started=time.monotonic(), serial=str(serial_path))
        with open(self.workdir / f"qemu-{number:02d}.log", "wb") as qemu_out:
            proc = subprocess.Popen(self.argv(serial_path), stdin=subprocess.DEVNULL, stdout=qemu_out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        with self._lock:
            self._proc = proc
            self.boots.append(boot)
        self.log(f"fleet: {self.minion_id}: boot {number} (qemu pid {proc.pid})")
        offset, text = 0, ""
        while True:
            returncode = proc.poll()
            with open(serial_path, "rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
            offset += len(chunk)
            text += chunk.decode("utf-8", errors="replace")
            now = time.monotonic()
            if boot.minion_start is None and (match := MINION_START_RE.search(text)):
                boot.minion_start, boot.boot_id = now, match.group(2)
            if boot.panic is None and (match := PANIC_RE.search(text)):
                boot.panic, boot.panic_text = now, match.group(1).strip()
            if boot.panic is not None and boot.dump_saved is None and DUMP_SAVED_RE.search(text):
                boot.dump_saved = now
            if returncode is not None or self._stop.is_set():
                break
            time.sleep(0.25)
        if returncode is None:
            self._kill()
            returncode = proc.poll()
        boot.exited, boot.returncode = time.monotonic(), returncode
        self.log(f"fleet: {self.minion_id}: boot {number} ended: {boot.summary()}")


def stage_file_roots(dest, repo_root, top, extra_sls=None):
    """The master's file_roots as the README lays them: ``salt/`` and the checkout itself
    (for ``salt://_modules`` ... ``salt://_runners``), plus a directory holding the top file.

    :return: the ``file_roots`` list for the master config
    """
    dest = Path(dest)
    checkout = dest / "kdump-formula"
    checkout.mkdir(parents=True)
    for name in ("salt", "_modules", "_states", "_utils", "_runners", "_output", "_grains"):
        (checkout / name).symlink_to(Path(repo_root) / name, target_is_directory=True)
    site = dest / "site"
    site.mkdir()
    (site / "top.sls").write_text(yaml.safe_dump(top, sort_keys=False), encoding="utf-8")
    for name, text in (extra_sls or {}).items():
        (site / f"{name}.sls").write_text(text, encoding="utf-8")
    return [str(site), str(checkout / "salt"), str(checkout)]


def stage_pillar_roots(dest, top, sls):
    """Pillar roots with a top file and its SLS files (``{name: data}``)."""
    dest = Path(dest)
    dest.mkdir(parents=True)
    (dest / "top.sls").write_text(yaml.safe_dump(top, sort_keys=False), encoding="utf-8")
    for name, data in sls.items():
        (dest / f"{name}.sls").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return [str(dest)]


def fleet_pillars(special):
    """The fleet's pillar: ``(top, {sls name: data})``. Every minion gets the e2e pillar with
    ``crashkernel: 192M``; ``special`` (a minion id, or None) also its own dump level, a
    fixed volume size and ``crashkernel: measured``, by targeting.

    An explicit reservation, not "auto": the fleet images boot first without kdump-tools'
    grub drop-in applied (image.py), and on bookworm "auto" equals that drop-in, so the
    formula would see nothing to change while grub.cfg still lacks it. See fleet.md.
    """
    common = copy.deepcopy(fx.E2E_PILLAR)
    common["kdump"]["crashkernel"]["value"] = FLEET_CRASHKERNEL
    sls = {"kdump_fleet": common}
    top = {"base": {"*": ["kdump_fleet"]}}
    if special:
        sls["kdump_fleet_special"] = {"kdump": {"crashkernel": {"value": SPECIAL_CRASHKERNEL},
                                                "settings": {"collector": {"dump_level": SPECIAL_DUMP_LEVEL}},
                                                "volume": {"size": SPECIAL_SIZE}}}
        top["base"][special] = ["kdump_fleet_special"]
    return top, sls
