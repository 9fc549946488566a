"""Put the formula, a minion config and a pillar onto a guest's share, as a user would lay them.

Why: in the e2e guest Salt runs ``salt-call --local`` against the checkout exactly as a
masterless minion would: the state tree (``salt/``), the custom modules (``_modules``,
``_states``, ``_utils``) and the pillar are copied onto the 9p share, and a minion config on
the share points Salt at them. Nothing of the formula is baked into the image, so a change
to the formula never forces an image rebuild.

Guest paths (the share is mounted at ``/mnt/host``)::

    /mnt/host/formula/{salt,_modules,_states,_utils}   copy of the checkout
    /mnt/host/pillar/{top.sls,kdump_e2e.sls}            the e2e pillar
    /mnt/host/salt-config/minion                        use: salt-call -c /mnt/host/salt-config
    /mnt/host/vmlinux                                   debug vmlinux, when staged
"""

import json
import os
import shutil
from pathlib import Path

import yaml

from tests.e2e.guest import REPO_ROOT

GUEST_SHARE = "/mnt/host"
MINION_ID = "kdump-e2e"
SALT_CALL = f"/opt/salt/bin/salt-call -c {GUEST_SHARE}/salt-config --local --retcode-passthrough"
FORMULA_DIRS = ("salt", "_modules", "_states", "_utils", "_grains")
# Files the guest's step runner itself writes into $E2E_OUT (status.json, result.json).
RESERVED_OUT_NAMES = ("status", "result")

# The pillar of the e2e scenario: VG rootvg on the second disk (made by the first step),
# LV crashlv sized by the formula, crashkernel from the formula's sizing, panic sysctls, and
# panic=10 in the capture kernel so a failed capture reboots instead of hanging the test.
E2E_PILLAR = {
    "kdump": {
        "crashkernel": {"value": "auto", "require_reboot": "warn"},
        "settings": {
            "target": {"type": "local", "path": "/var/crash"},
            "collector": {"dump_level": 31, "compression": "zlib"},
            "capture_cmdline_append": "panic=10",
        },
        "volume": {
            "vg": "rootvg",
            "lv": "crashlv",
            "size": "auto",
            "fstype": "ext4",
            "mountpoint": "/var/crash",
            "mount_at_boot": True,
        },
        "space_check": True,
        "sysctl": {"kernel.panic": 10, "kernel.panic_on_oops": 1, "kernel.sysrq": 1},
    }
}

# Test setup, not formula work: the second disk becomes the PV of VG rootvg (the formula
# manages the LV inside it). Idempotent, so a re-run of the first boot does not fail.
VG_SETUP_STEP = """\
if ! vgs rootvg >/dev/null 2>&1; then
    pvcreate -q /dev/vdb
    vgcreate -q rootvg /dev/vdb
fi
"""


def minion_config():
    """The guest minion's config: masterless, formula and pillar from the share."""
    share = GUEST_SHARE
    return {
        "id": MINION_ID,
        "file_client": "local",
        "file_roots": {"base": [f"{share}/formula/salt", f"{share}/formula"]},
        "pillar_roots": {"base": [f"{share}/pillar"]},
        "module_dirs": [f"{share}/formula/_modules"],
        "states_dirs": [f"{share}/formula/_states"],
        "utils_dirs": [f"{share}/formula/_utils"],
        # No network in the guest: grains that resolve names or probe GPUs only cost time.
        "enable_fqdns_grains": False,
        "enable_gpu_grains": False,
        # The log goes onto the share, so the host can follow a long apply while it runs.
        "log_level_logfile": "info",
        "log_file": f"{share}/out/salt-minion.log",
    }


def stage(share, pillar=None, repo_root=REPO_ROOT):
    """Copy the formula and write the minion config and pillar onto ``share`` (a host path).

    :param share: the guest's share directory (``Guest.share``)
    :param pillar: the pillar dict (default ``E2E_PILLAR``)
    :return: the staged paths, host side
    """
    share = Path(share)
    formula = share / "formula"
    shutil.rmtree(formula, ignore_errors=True)
    formula.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in FORMULA_DIRS:
        src = Path(repo_root) / name
        if src.is_dir():
            shutil.copytree(src, formula / name, ignore=ignore)
    config = share / "salt-config"
    config.mkdir(exist_ok=True)
    (config / "minion").write_text(yaml.safe_dump(minion_config(), sort_keys=False), encoding="utf-8")
    pillar_dir = share / "pillar"
    pillar_dir.mkdir(exist_ok=True)
    (pillar_dir / "top.sls").write_text(yaml.safe_dump({"base": {"*": ["kdump_e2e"]}}), encoding="utf-8")
    (pillar_dir / "kdump_e2e.sls").write_text(
        yaml.safe_dump(E2E_PILLAR if pillar is None else pillar, sort_keys=False), encoding="utf-8"
    )
    return {"formula": formula, "config": config / "minion", "pillar": pillar_dir}


def stage_vmlinux(share, vmlinux):
    """Make the cached debug vmlinux visible at ``/mnt/host/vmlinux`` (hard link, else copy)."""
    dest = Path(share) / "vmlinux"
    dest.unlink(missing_ok=True)
    try:
        os.link(vmlinux, dest)
    except OSError:
        shutil.copy2(vmlinux, dest)
    return f"{GUEST_SHARE}/vmlinux"


def salt_call_json(function_and_args, out_name):
    """A step line: run ``salt-call`` with JSON output into ``$E2E_OUT/<out_name>.json`` and record
    its exit status and wall milliseconds in ``<out_name>.meta``; never aborts the step."""
    if out_name in RESERVED_OUT_NAMES:
        raise ValueError(f"out_name: {out_name!r} would overwrite the step runner's {out_name}.json")
    return (
        f"t0=$(date +%s%N); {SALT_CALL} --out=json {function_and_args} "
        f"> \"$E2E_OUT/{out_name}.json\" 2> \"$E2E_OUT/{out_name}.log\"; rc=$?; t1=$(date +%s%N); "
        f"echo \"{{\\\"rc\\\": $rc, \\\"ms\\\": $(( (t1 - t0) / 1000000 ))}}\" "
        f"> \"$E2E_OUT/{out_name}.meta\"\n"
    )


def read_call(result, out_name):
    """``(rc, seconds, data)`` of a ``salt_call_json`` line from a StepResult."""
    meta = json.loads(result.read(f"{out_name}.meta"))
    text = result.read(f"{out_name}.json")
    data = json.loads(text) if text.strip() else None
    return meta["rc"], meta["ms"] / 1000.0, data
