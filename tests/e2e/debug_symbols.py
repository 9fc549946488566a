"""The guest kernel's debug vmlinux, for `crash` in ``vmcore.analyze`` (full analysis).

Why: ``crash`` needs the vmlinux with debug info that matches the crashed kernel exactly.
Debian ships it as ``linux-image-<release>-dbg`` (about 855 MB); only the one vmlinux file
inside is needed, so it is extracted once and cached as ``vmlinux-<release>`` next to the
base image. The package version is pinned to the guest's kernel package version.
"""

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.e2e.hostcmd import E2EError, require_root, run
from tests.e2e.image import cache_dir, cache_lock


def debug_package(image):
    """``(name, version)`` of the debug package matching the guest kernel."""
    return f"linux-image-{image.kernel_release}-dbg", image.kernel_version


def ensure_debug_vmlinux(image, log=print):
    """Return the path of the cached debug vmlinux for ``image``'s kernel, fetching it once."""
    dest = cache_dir() / f"vmlinux-{image.kernel_release}"
    if dest.exists():
        return dest
    require_root("debug-vmlinux")
    with cache_lock("vmlinux"):
        if dest.exists():
            return dest
        name, version = debug_package(image)
        member = f"./usr/lib/debug/boot/vmlinux-{image.kernel_release}"
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="dbg.", dir=cache_dir()) as tmp:
            log(f"debug-vmlinux: apt-get download {name}={version} (about 855 MB)")
            run(["apt-get", "download", f"{name}={version}"], "debug-vmlinux-download", cwd=tmp, timeout=1800)
            debs = list(Path(tmp).glob("*.deb"))
            if len(debs) != 1:
                raise E2EError("debug-vmlinux-download", f"expected one .deb in {tmp}, found {debs}")
            _extract_member(debs[0], member, tmp)
            extracted = Path(tmp, member)
            if not extracted.exists():
                raise E2EError("debug-vmlinux-extract", f"{member} not found in {debs[0].name}")
            partial = Path(str(dest) + ".tmp")
            shutil.move(str(extracted), partial)
            os.replace(partial, dest)
        for old in cache_dir().glob("vmlinux-*"):
            if old != dest:
                old.unlink(missing_ok=True)
        log(f"debug-vmlinux: {dest} ({dest.stat().st_size} bytes, {time.monotonic() - started:.1f}s)")
    return dest


def _extract_member(deb, member, into):
    """``dpkg-deb --fsys-tarfile DEB | tar -x MEMBER``, as two argv processes (no shell)."""
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as dpkg:
        tar = subprocess.run(["tar", "-x", "-C", str(into), "-f", "-", member], stdin=dpkg.stdout,
                             capture_output=True, text=True, check=False)
        dpkg.stdout.close()
        dpkg_err = dpkg.stderr.read().decode(errors="replace")
        dpkg.wait()
    if dpkg.returncode != 0 or tar.returncode != 0:
        raise E2EError(
            "debug-vmlinux-extract",
            f"dpkg-deb --fsys-tarfile {deb} | tar -x {member} failed "
            f"(dpkg-deb {dpkg.returncode}: {dpkg_err[-2000:]}; tar {tar.returncode}: {tar.stderr[-2000:]})",
        )
