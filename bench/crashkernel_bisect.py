"""Bisect the smallest crashkernel= reservation that really captures a dump, per Debian guest.

Why: ``crashkernel=measured`` recommends 1.4x an estimate of that minimum and promises
1.2-1.6x of the real one (docs/modules/crashkernel.md, "Measured sizing"); only a real
kernel says what the real one is. For each guest (Debian 12 bookworm, Debian 13 trixie, the
fleet images of tests/e2e/image.py, 1 GiB), each try boots with one reservation, crashes
the kernel and looks for the dump; the bisection keeps the smallest size that captured. It
records that size, the formula's measured recommendation and the distribution default and
their ratios to it in ``artifacts/bench/crashkernel-bisect.json`` (untracked, see
bench/README.md).

Not in CI. A try is one guest boot under TCG, about 2 minutes: QEMU boots the guest's kernel
directly with the reservation on its command line and the guest crashes once kdump-tools is
loaded; the capture kernel's console says whether the dump was saved. A guest takes
1 + ceil(log2((high - low) / step)) tries, then three boots that confirm the smallest size the
formula's way (crashkernel.set through GRUB, crash, vmcore.list) and record the formula's
measured recommendation and the distribution default.

    python bench/crashkernel_bisect.py --plan          # the tries, without booting anything
    python bench/crashkernel_bisect.py                 # both guests (root, QEMU, images cached)
    python bench/crashkernel_bisect.py --suite trixie --low 96M --high 256M --step 8M
"""

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
if str(REPO_ROOT / "_utils") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "_utils"))

from kdumplib import sizes  # noqa: E402  (after the path set-up above)
from tests.e2e.guest import DUMP_SAVED_RE  # noqa: E402

MIB = 1 << 20
SUITES = {"bookworm": "Debian 12", "trixie": "Debian 13"}
BENCH_NAME = "crashkernel-bisect"
GUEST_MEMORY_MB = 1024
GUEST_SMP = 2
# 120M ran out of memory and 128M captured on the bookworm guest (/work/shared/testing.md):
# the default bounds hold that, and trixie's larger kernel and initrd below 224M (1 + 4 tries).
DEFAULT_LOW = "96M"
DEFAULT_HIGH = "224M"
DEFAULT_STEP = "8M"
# The pillar of every try: the dump on the root filesystem (no volume: one variable at a
# time), panic=10 so that a capture kernel that runs out of memory reboots (QEMU exits with
# -no-reboot) instead of hanging until the crash timeout.
PILLAR = {
    "kdump": {
        "crashkernel": {"value": DEFAULT_HIGH},
        "settings": {
            "target": {"type": "local", "path": "/var/crash"},
            "collector": {"dump_level": 31, "compression": "zlib"},
            "capture_cmdline_append": "panic=10",
        },
        "sysctl": {"kernel.panic": 10, "kernel.panic_on_oops": 1, "kernel.sysrq": 1},
    }
}
# What one try boots (--plan prints it), and how the smallest size found is confirmed.
TRY_BOOTS = (
    "try: QEMU boots the guest's kernel and initrd directly with crashkernel=<size> on its command "
    "line (GRUB skipped: one boot, not a formula run); wait until kdump-tools is done loading; "
    "sysrq crash; captured = the capture kernel's console says the dump was saved",
)
CONFIRM_BOOTS = (
    "set: salt-call crashkernel.set <smallest>; remove earlier dumps; power off",
    "crash: GRUB boots the formula's entry; wait until kdump-tools loaded the capture kernel; sysrq crash",
    "look: salt-call vmcore.list (a complete dump = confirmed); crashkernel.measure and "
    "recommend auto for the record",
)


class BisectError(Exception):
    """The bounds cannot bisect: the upper bound did not capture, or bad arguments."""


def bisect(low, high, works, step):
    """The smallest multiple-of-``step`` reservation above ``low`` for which ``works`` is true.

    ``works(size) -> bool`` is one real try. ``high`` is tried first and must capture; ``low``
    is assumed not to (never tried: below it a kernel does not boot at all). Captures are
    assumed monotonic in the size.

    :return: ``{"smallest_bytes", "tries": [{"bytes", "captured"}], "lower_bound_confirmed"}``;
        ``lower_bound_confirmed`` False: nothing failed, the minimum may lie at or below ``low``.
    """
    for name, value in (("low", low), ("high", high), ("step", step)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise BisectError(f"{name}: {value!r} is not a byte count")
    if step == 0 or low >= high or (high - low) % step:
        raise BisectError(
            f"bounds: high ({sizes.format_size(high)}) must be above low ({sizes.format_size(low)}) "
            f"by a whole number of steps ({sizes.format_size(step) if step else 0})"
        )
    tries = []

    def attempt(size):
        captured = bool(works(size))
        tries.append({"bytes": size, "captured": captured})
        return captured

    if not attempt(high):
        raise BisectError(f"high: {sizes.format_size(high)} did not capture a dump; raise --high")
    while high - low > step:
        middle = low + (high - low) // step // 2 * step
        if attempt(middle):
            high = middle
        else:
            low = middle
    return {
        "smallest_bytes": high,
        "tries": tries,
        "lower_bound_confirmed": any(not entry["captured"] for entry in tries),
    }


def max_tries(low, high, step):
    return 1 + math.ceil(math.log2((high - low) // step)) if high - low > step else 1


def plan(low, high, step):
    """The tries the bisection makes when every try fails (after ``high``) and when every try
    captures: the two extreme paths; any real run lies between them."""
    fails = bisect(low, high, lambda size: size == high, step)["tries"]
    works = bisect(low, high, lambda size: True, step)["tries"]
    return {
        "low": low, "high": high, "step": step, "max_tries": max_tries(low, high, step),
        "if_every_try_fails": [entry["bytes"] for entry in fails],
        "if_every_try_captures": [entry["bytes"] for entry in works],
        "boots_per_try": list(TRY_BOOTS),
        "confirm_boots": list(CONFIRM_BOOTS),
    }


def ratios(smallest, measured=None, default=None):
    """What gets recorded beside the smallest size: the measured recommendation and estimate,
    the distribution default, each divided by the smallest size that captured."""
    record = {"smallest_bytes": smallest}
    if measured:
        record["measured"] = {key: measured.get(key) for key in
                              ("release", "min_bytes", "model_bytes", "parts", "value", "reserved_bytes",
                               "band", "kernel_method", "unpacked_method")}
        record["ratio_recommended"] = round(measured["reserved_bytes"] / smallest, 3)
        record["ratio_estimated_min"] = round(measured["min_bytes"] / smallest, 3)
        if measured.get("model_bytes"):  # the sum of the parts, before MODEL_BIAS
            record["ratio_model"] = round(measured["model_bytes"] / smallest, 3)
        record["recommended_in_band"] = 1.2 <= record["ratio_recommended"] <= 1.6
    if default:
        record["default"] = default
        record["ratio_default"] = round(default["reserved_bytes"] / smallest, 3)
    return record


class GuestTries:
    """Real tries on one guest (imports the e2e harness only when a guest is really booted).

    The formula is applied once (kdump-tools, its config, the capture initrd); each try then
    boots the guest's own kernel and initrd straight from QEMU with the reservation on the
    command line, so a try is one boot. The smallest size found is confirmed the formula's way
    (``confirm``: crashkernel.set, a GRUB boot, vmcore.list)."""

    WAIT_LOADED = (
        # kdump-tools.service is a oneshot: start waits for a load in progress and returns at once
        # when it is done; a reservation too small for the capture kernel leaves it unloaded.
        "timeout 300 systemctl start kdump-tools.service || true\n"
        "for i in $(seq 30); do [ \"$(cat /sys/kernel/kexec_crash_loaded)\" = 1 ] && break; sleep 1; done\n"
        "cat /sys/kernel/kexec_crash_size > \"$E2E_OUT/size\"\n"
        "[ \"$(cat /sys/kernel/kexec_crash_loaded)\" = 1 ] || exit 3\n"
        "sync; echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger\n"
    )

    def __init__(self, suite, workdir, log=print):
        from tests.e2e import formula as fx
        from tests.e2e import image as image_mod
        from tests.e2e.guest import Guest

        self.fx = fx
        self.log = log
        self.workdir = Path(workdir)
        self.image = image_mod.ensure_image(log, suite=suite, variant="fleet")
        self.guest = Guest(self.workdir / "vm", self.image, memory_mb=GUEST_MEMORY_MB, smp=GUEST_SMP, log=log)
        self.measured = None
        self.default = None
        fx.stage(self.guest.share, pillar=PILLAR)
        # The fleet image's minion unit has no master here; the formula configures kdump-tools.
        setup = self._step(
            "systemctl disable --now kdump-fleet-minion.service 2>/dev/null || true\n"
            + fx.salt_call_json("state.apply kdump", "apply")
            + "cp /boot/vmlinuz-$(uname -r) \"$E2E_OUT/vmlinuz\"\n"
            "cp /boot/initrd.img-$(uname -r) \"$E2E_OUT/initrd.img\"\n"
            "cat /proc/cmdline > \"$E2E_OUT/cmdline\"\n",
            "setup", timeout=1500,
        ).require()
        rc, _, applied = fx.read_call(setup, "apply")
        states = (applied or {}).get("local") if isinstance(applied, dict) else None
        failed = [key for key, state in (states or {}).items() if not state.get("result")]
        if rc != 0 or not isinstance(states, dict) or failed:
            raise BisectError(f"setup: state.apply kdump exited {rc}; failed states: {failed or states}")
        boot = self.workdir / "boot"
        boot.mkdir(exist_ok=True)
        for name in ("vmlinuz", "initrd.img"):
            shutil.copy2(Path(setup.out_dir) / name, boot / name)
        self.kernel = (boot / "vmlinuz", boot / "initrd.img")
        self.cmdline = base_cmdline((Path(setup.out_dir) / "cmdline").read_text())

    def _step(self, script, name, timeout=600, expect_crash=False):
        return self.guest.run_step("set -u\n" + script, timeout=timeout, name=name, expect_crash=expect_crash)

    def __call__(self, size):
        """One try: one boot with crashkernel=<size>, a crash, the console's word on the dump."""
        value = sizes.format_size(size)
        self.guest.direct_kernel = (*self.kernel, f"{self.cmdline} crashkernel={value}")
        try:
            crash = self._step("rm -rf /var/crash/2*\n" + self.WAIT_LOADED, f"try-{value}",
                               timeout=420, expect_crash=True)
        finally:
            self.guest.direct_kernel = None
        captured = captured_on_console(crash.outcome, crash.serial)
        self.log(f"bisect: {value}: {'captured' if captured else 'no dump'} ({crash.outcome} in {crash.phase})")
        return captured

    def confirm(self, size):
        """The formula's own path at ``size``: crashkernel.set, a GRUB boot, a crash, vmcore.list.
        Also records crashkernel.measure and the distribution default."""
        value = sizes.format_size(size)
        fx = self.fx
        self._step("rm -rf /var/crash/2*\n" + fx.salt_call_json(f"crashkernel.set {value}", "set"),
                   f"set-{value}").require()
        crash = self._step(self.WAIT_LOADED, f"crash-{value}", timeout=420, expect_crash=True)
        look = self._step(
            fx.salt_call_json("vmcore.list", "list")
            + fx.salt_call_json("crashkernel.measure", "measure")
            + fx.salt_call_json("crashkernel.recommend auto", "default"),
            f"look-{value}",
        ).require()
        _, _, dumps = fx.read_call(look, "list")
        _, _, measured = fx.read_call(look, "measure")
        _, _, default = fx.read_call(look, "default")
        if isinstance(measured, dict) and isinstance(measured.get("local"), dict):
            self.measured = measured["local"]
        if isinstance(default, dict) and isinstance(default.get("local"), dict):
            self.default = default["local"]
        found = (dumps or {}).get("local") or []
        confirmed = crash.outcome == "crashed" and any(entry.get("complete") for entry in found)
        self.log(f"bisect: confirm {value} through the formula: {'captured' if confirmed else 'NO DUMP'}")
        return confirmed

    def close(self):
        self.guest.close()


def base_cmdline(cmdline):
    """The running command line without what GRUB adds (BOOT_IMAGE=) and without crashkernel=:
    what a direct-boot try starts from."""
    kept = [word for word in cmdline.split() if not word.startswith(("BOOT_IMAGE=", "crashkernel="))]
    return " ".join(kept)


def captured_on_console(outcome, serial):
    """A try captured when the kernel panicked and, after the panic, the capture kernel's
    console said the dump was saved (a capture kernel out of memory panics again and, with
    panic=10, reboots: QEMU exits without that line)."""
    if outcome != "crashed":
        return False
    panic = serial.find("Kernel panic")
    return panic >= 0 and DUMP_SAVED_RE.search(serial, panic) is not None


def run(suites, low, high, step, log=print):
    from tests.e2e import benchfile

    record = {"recorded_at": time.strftime("%FT%T%z"), "guest_ram_bytes": GUEST_MEMORY_MB * MIB,
              "guest_smp": GUEST_SMP, "low": low, "high": high, "step": step, "suites": {}}
    for suite in suites:
        with tempfile.TemporaryDirectory(prefix=f"ck-bisect-{suite}-") as workdir:
            tries = GuestTries(suite, workdir, log)
            try:
                started = time.monotonic()
                found = bisect(low, high, tries, step)
                confirmed = tries.confirm(found["smallest_bytes"])
                record["suites"][suite] = {
                    "os": SUITES[suite], "kernel_release": tries.image.kernel_release,
                    "tries": found["tries"], "lower_bound_confirmed": found["lower_bound_confirmed"],
                    "confirmed_through_formula": confirmed,
                    "seconds": round(time.monotonic() - started, 1),
                    **ratios(found["smallest_bytes"], tries.measured, tries.default),
                }
            finally:
                tries.close()
    path = benchfile.record(BENCH_NAME, record)
    log(f"bisect: recorded in {path}")
    return record


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", action="append", choices=sorted(SUITES), help="default: both")
    parser.add_argument("--low", default=DEFAULT_LOW, help=f"assumed not to capture (default {DEFAULT_LOW})")
    parser.add_argument("--high", default=DEFAULT_HIGH, help=f"must capture (default {DEFAULT_HIGH})")
    parser.add_argument("--step", default=DEFAULT_STEP, help=f"resolution (default {DEFAULT_STEP})")
    parser.add_argument("--plan", action="store_true", help="print the tries, boot nothing")
    args = parser.parse_args(argv)
    try:
        low, high, step = (sizes.parse_size(args.low), sizes.parse_size(args.high), sizes.parse_size(args.step))
        suites = args.suite or list(SUITES)
        if args.plan:
            shown = plan(low, high, step)
            for suite in suites:
                print(f"{suite} ({SUITES[suite]}, fleet image, {GUEST_MEMORY_MB}M RAM, {GUEST_SMP} vCPUs): "
                      f"at most {shown['max_tries']} tries of {len(TRY_BOOTS)} boot, then "
                      f"{len(CONFIRM_BOOTS)} boots to confirm the smallest through the formula")
            print("tries if every try fails:    " + " ".join(sizes.format_size(s) for s in shown["if_every_try_fails"]))
            print("tries if every try captures: " + " ".join(sizes.format_size(s) for s in shown["if_every_try_captures"]))
            print("one try:")
            for boot in TRY_BOOTS:
                print(f"  {boot}")
            print("then, at the smallest size that captured:")
            for number, boot in enumerate(CONFIRM_BOOTS, start=1):
                print(f"  boot {number}: {boot}")
            return 0
        print(json.dumps(run(suites, low, high, step), indent=2))
        return 0
    except (ValueError, BisectError) as exc:
        print(f"crashkernel_bisect: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
