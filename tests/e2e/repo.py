"""Local apt repository for the e2e guest, which has no network.

Why: the formula installs kdump-tools with ``pkg.installed`` exactly as on a real minion, so the
guest's apt needs a repository. The host is Debian 12 like the guest, so host apt downloads
the same .debs: it resolves the packages against the *guest's* dpkg status (saved when the
image was built), so the repository holds exactly what the guest lacks. The result is indexed
with dpkg-scanpackages and served to the guest on the 9p share as
``deb [trusted=yes] file:/mnt/host/repo ./`` (the line baked into the image).

Cached under the e2e cache directory, keyed by the base image and the package list.
"""

import gzip
import hashlib
import os
import shutil
import time
from pathlib import Path

from tests.e2e.hostcmd import E2EError, require_root, run
from tests.e2e.image import cache_dir, cache_lock

# What the formula installs on Debian (kdump-tools pulls kexec-tools and makedumpfile) and
# `crash`, which vmcore.analyze runs when given a debug vmlinux.
REPO_PACKAGES = ["kdump-tools", "kexec-tools", "makedumpfile", "crash"]


def repo_key(image):
    digest = hashlib.sha256()
    digest.update(image.key.encode())
    digest.update(Path(__file__).read_bytes())
    digest.update(" ".join(REPO_PACKAGES).encode())
    return digest.hexdigest()[:16]


def ensure_repo(image, log=print):
    """Return the directory of the repository for ``image``, building it when missing."""
    dest = cache_dir() / f"repo-{repo_key(image)}"
    if (dest / "Packages").exists():
        return dest
    require_root("repo")
    with cache_lock("repo"):
        if (dest / "Packages").exists():
            return dest
        started = time.monotonic()
        tmp = Path(str(dest) + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "partial").mkdir(parents=True)
        log(f"repo: downloading {REPO_PACKAGES} and what the guest lacks of their dependencies")
        run(
            ["apt-get", "--download-only", "--yes", "--no-install-recommends",
             "-o", f"Dir::State::status={image.dpkg_status}",
             "-o", f"Dir::Cache::archives={tmp}",
             "-o", "Debug::NoLocking=1",
             "install", *REPO_PACKAGES],
            "repo-download",
            env={"DEBIAN_FRONTEND": "noninteractive"},
            timeout=900,
        )
        shutil.rmtree(tmp / "partial", ignore_errors=True)
        (tmp / "lock").unlink(missing_ok=True)
        debs = sorted(p.name for p in tmp.glob("*.deb"))
        missing = [name for name in REPO_PACKAGES if not any(d.startswith(name + "_") for d in debs)]
        if missing:
            raise E2EError("repo-download", f"apt did not download {missing}; got {debs}")
        packages = run(["dpkg-scanpackages", "--multiversion", "."], "repo-index", cwd=tmp)
        (tmp / "Packages").write_text(packages, encoding="utf-8")
        with gzip.open(tmp / "Packages.gz", "wt", encoding="utf-8") as handle:
            handle.write(packages)
        _write_release(tmp)
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
        for old in cache_dir().glob("repo-*"):
            if old != dest:
                shutil.rmtree(old, ignore_errors=True)
        log(f"repo: {len(debs)} packages in {dest} ({time.monotonic() - started:.1f}s)")
    return dest


def _write_release(repo):
    """A flat-repository Release file, so apt does not warn about a missing one."""
    lines = ["Origin: kdump-formula-e2e", "Label: kdump-formula-e2e", "Suite: local",
             "Date: " + time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime()), "SHA256:"]
    for name in ("Packages", "Packages.gz"):
        data = (repo / name).read_bytes()
        lines.append(f" {hashlib.sha256(data).hexdigest()} {len(data)} {name}")
    (repo / "Release").write_text("\n".join(lines) + "\n", encoding="utf-8")
