"""Read the guest's dump LV from the host, without device-mapper.

Why: the host kernel has no device-mapper, but a linear LV on a raw disk is one contiguous
byte range of that disk, so a loop device at the LV's offset shows its filesystem. The
guest reports the geometry (``LV_GEOMETRY_STEP`` writes ``$E2E_OUT/lv.json``); the host then
mounts the LV read-only and can run the full ``crash`` analysis natively, far faster than
under TCG.
"""

import contextlib
import tempfile

from tests.e2e.hostcmd import E2EError, run

LV_GEOMETRY_STEP = r"""
lv_geometry() {  # $1 = vg/lv; writes $E2E_OUT/lv.json
    python3 - "$1" > "$E2E_OUT/lv.json" <<'PY'
import json, subprocess, sys
vg_lv = sys.argv[1]
def lvm(*args):
    return subprocess.run(["lvm", *args, "--noheadings", "--units", "b", "--nosuffix", "--separator", "|"],
                          check=True, capture_output=True, text=True).stdout.strip()
segs = [line.strip().split("|") for line in lvm("lvs", "-o", "seg_pe_ranges,lv_size,seg_count", vg_lv).splitlines()]
pv, first = segs[0][0].split(":")[0], int(segs[0][0].split(":")[1].split("-")[0])
pe_start = int(lvm("pvs", "-o", "pe_start", pv))
extent = int(lvm("vgs", "-o", "vg_extent_size", vg_lv.split("/")[0]))
json.dump({"pv": pv, "segments": len(segs), "first_pe": first, "pe_start": pe_start,
           "extent_size": extent, "offset": pe_start + first * extent, "size": int(segs[0][1])}, sys.stdout)
PY
}
"""


@contextlib.contextmanager
def mounted_lv(disk_path, geometry):
    """Mount the LV described by ``geometry`` (from ``lv.json``) read-only; yields the mountpoint."""
    if geometry.get("segments") != 1:
        raise E2EError("host-dump-read", f"the dump LV is not one linear segment: {geometry}")
    loop = run(["losetup", "-f", "--show", "-r", "-o", geometry["offset"], "--sizelimit", geometry["size"],
                disk_path], "host-dump-read").strip()
    try:
        with tempfile.TemporaryDirectory(prefix="kdump-e2e-lv.") as mnt:
            run(["mount", "-o", "ro,noload", loop, mnt], "host-dump-read")
            try:
                yield mnt
            finally:
                run(["umount", mnt], "host-dump-read")
    finally:
        run(["losetup", "-d", loop], "host-dump-read")
