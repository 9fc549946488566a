"""Cached Debian base disk images for the e2e tier (a real kernel under QEMU).

Why: only a real kernel proves kdump works, and debootstrapping a guest takes minutes, so an
image is built once per recipe and reused. The cache key is a hash of this file, the guest
files it installs, the suite, the variant, the package list and the Salt version: change any
of them and a new image is built (one cached image per suite and variant).

Variants:

* ``step`` (Debian 12 only, the single-host scenario): NO kdump packages: installing them is
  the formula's job (they come from the local apt repository built by ``tests/e2e/repo.py``);
  a systemd unit runs one step per boot from the host's 9p share (see ``guest_files/``).
* ``fleet`` (``bookworm`` and ``trixie``, the fleet tier): kdump-tools, kexec-tools and
  makedumpfile installed by debootstrap (fast, in the chroot), so the fleet does not pay the
  package install under TCG again; an empty machine-id (each guest makes its own at its first
  boot) and a unit that runs a salt-minion with the config found on the 9p share, on a
  network that only reaches the host master (see ``tests/e2e/fleet.py``). The step unit is
  enabled too and runs first: with a ``step.sh`` on the share the boot is one step (as in
  the step image) and the minion never starts; without one it steps aside.

What every image contains: a minbase rootfs of its suite (kernel, GRUB on a serial console,
LVM, Python), Salt in a venv at ``/opt/salt`` installed offline from a host-side wheelhouse
built for the guest's Python, apt pointed only at ``file:/mnt/host/repo``.

CLI (as root, from the repository root)::

    python -m tests.e2e.image build [SUITE [VARIANT]]  # build or reuse; prints the metadata
    python -m tests.e2e.image info [SUITE [VARIANT]]   # metadata of the cached image, if any
    python -m tests.e2e.image repo      # also build or reuse the local apt repository
    python -m tests.e2e.image vmlinux   # also fetch the guest kernel's debug vmlinux
"""

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.e2e.hostcmd import E2EError, require_root, run

SUITE = "bookworm"
SALT_VERSION = "3008.4"
IMAGE_SIZE = "4G"
GUEST_HOSTNAME = "kdump-e2e"
# The guest Python of each suite: the wheelhouse is built for it. Salt 3008.4 runs on both
# (checked: ``salt-call --local test.ping`` in the trixie chroot at build time, see
# ``_check_salt``); trixie's Python 3.13 is not the host's, so its platform wheels are
# downloaded as binaries for cp313 (see ``ensure_wheelhouse``).
SUITE_PYTHON = {"bookworm": (3, 11), "trixie": (3, 13)}
GUEST_PYTHON = SUITE_PYTHON[SUITE]
# Salt requires timelib, a C extension with no cp313 wheel on PyPI (sdist only), and imports
# it only optionally (salt.utils.dateutils: free-form date strings, unused by the formula).
# A guest whose Python is not the host's gets every other requirement, installed --no-deps.
NO_BINARY_FOR_GUEST = ("timelib",)
VARIANTS = ("step", "fleet")
# Installed at build time in the fleet images only (the step image proves the real install).
FLEET_PACKAGES = ["kdump-tools", "kexec-tools", "makedumpfile", "iproute2"]
FLEET_UNIT = "kdump-fleet-minion.service"
FLEET_PREPARE = "/usr/local/sbin/kdump-fleet-prepare"
BASE_PACKAGES = [
    "linux-image-amd64",
    "initramfs-tools",
    "grub-pc",
    "lvm2",
    "systemd-sysv",
    "udev",
    "kmod",
    "procps",
    "e2fsprogs",
    "zstd",
    "xz-utils",
    "python3",
    "python3-venv",
]
# Hardware QEMU shows (or -cpu max advertises) that the guest has no use for.
UNUSED_MODULES = ["kvm", "kvm_amd", "kvm_intel", "floppy", "pcspkr"]
# Nobody logs in: the steps come from the share.
UNUSED_UNITS = ["getty.target", "e2scrub_reap.service"]
GUEST_FILES = Path(__file__).with_name("guest_files")
STEP_RUNNER = "/usr/local/sbin/kdump-e2e-step"
STEP_UNIT = "kdump-e2e-step.service"
CHROOT_ENV = {
    "DEBIAN_FRONTEND": "noninteractive",
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "LC_ALL": "C.UTF-8",
}
GRUB_DEFAULTS = """\
# /etc/default/grub for the kdump-formula e2e guest: serial console, short timeout.
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=ttyS0,115200"
GRUB_TERMINAL=serial
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_OS_PROBER=true
"""
LOCAL_REPO_LINE = "deb [trusted=yes] file:/mnt/host/repo ./\n"


def cache_dir():
    """The cache directory, outside the repository (``$KDUMP_E2E_CACHE`` overrides)."""
    return Path(os.environ.get("KDUMP_E2E_CACHE", "/var/cache/kdump-formula-e2e"))


def _check_variant(suite, variant):
    if suite not in SUITE_PYTHON:
        raise E2EError("image", f"suite: {suite!r} is not one of {sorted(SUITE_PYTHON)}")
    if variant not in VARIANTS:
        raise E2EError("image", f"variant: {variant!r} is not one of {VARIANTS}")
    if variant == "step" and suite != SUITE:
        raise E2EError("image", f"variant 'step' is built for {SUITE} only (the single-host scenario)")


def _packages(variant):
    return BASE_PACKAGES + (FLEET_PACKAGES if variant == "fleet" else [])


def recipe_key(suite=SUITE, variant="step"):
    """Hash of everything that decides the image's content (one key per suite and variant)."""
    digest = hashlib.sha256()
    digest.update(Path(__file__).read_bytes())
    for path in sorted(GUEST_FILES.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(json.dumps([suite, variant, SALT_VERSION, IMAGE_SIZE, _packages(variant)]).encode())
    return f"{suite}-{variant}-" + digest.hexdigest()[:16] if variant == "fleet" else digest.hexdigest()[:16]


def debian_mirror(suite=SUITE):
    """The Debian mirror this host's apt uses for the main archive (``$KDUMP_E2E_MIRROR`` wins).

    Reads both one-line ``.list`` and deb822 ``.sources`` files, and skips the security
    archive (debootstrap needs the main archive). A suite the host does not use (trixie on a
    Debian 12 host) comes from the same main archive as the host's own suite.
    """
    override = os.environ.get("KDUMP_E2E_MIRROR")
    if override:
        return override
    candidates, others = [], []
    files = [Path("/etc/apt/sources.list")] + sorted(Path("/etc/apt/sources.list.d").glob("*"))
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(
                    (m.group(1).lower(), m.group(2).strip())
                    for m in re.finditer(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M)
                )
                if "deb" in fields.get("types", "").split():
                    wanted = suite in fields.get("suites", "").split()
                    (candidates if wanted else others).extend(fields.get("uris", "").split())
        else:
            for line in text.splitlines():
                match = re.match(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
                if match:
                    (candidates if match.group(2) == suite else others).append(match.group(1))
    for uri in candidates + others:
        if "security" not in uri:
            return uri
    raise E2EError("image", f"no Debian {suite} mirror found in /etc/apt/sources.list*; set KDUMP_E2E_MIRROR")


@dataclass
class BaseImage:
    """A built base image and what the tests need to know about it."""

    key: str
    path: str
    dpkg_status: str
    kernel_release: str
    kernel_package: str
    kernel_version: str
    root_uuid: str
    salt_version: str
    mirror: str
    suite: str
    variant: str
    python: str
    salt_check: dict
    build_seconds: float
    phase_seconds: dict
    built_at: str

    @classmethod
    def load(cls, meta_path):
        return cls(**json.loads(Path(meta_path).read_text(encoding="utf-8")))


def _meta_path(key):
    return cache_dir() / f"base-{key}.json"


def cached_image(suite=SUITE, variant="step"):
    """The cached image for the current recipe of ``suite``/``variant``, or None."""
    _check_variant(suite, variant)
    meta = _meta_path(recipe_key(suite, variant))
    if meta.exists():
        try:
            image = BaseImage.load(meta)
        except TypeError:  # metadata of an older recipe
            return None
        if Path(image.path).exists():
            return image
    return None


@contextlib.contextmanager
def cache_lock(name):
    """Serialise builds of one cached artefact between concurrent processes."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / f".{name}.lock", "w", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_image(log=print, suite=SUITE, variant="step"):
    """Return the cached image of ``suite``/``variant``, building it first when its recipe changed."""
    image = cached_image(suite, variant)
    if image:
        return image
    require_root("image")
    with cache_lock(f"image-{suite}-{variant}"):
        image = cached_image(suite, variant)
        if image:
            return image
        image = _build(recipe_key(suite, variant), log, suite, variant)
        _prune_old_images(image.key, variant == "fleet" and f"base-{suite}-fleet-")
        return image


def _prune_old_images(keep_key, prefix):
    """Drop older images of the same kind (fleet images of the suite, or the step image)."""
    for path in cache_dir().glob("base-*"):
        if keep_key in path.name:
            continue
        is_fleet = "-fleet-" in path.name
        if (prefix and not path.name.startswith(prefix)) or (not prefix and is_fleet):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def python_for_wheels():
    """The host interpreter that builds the wheels: must be CPython 3.11 like bookworm."""
    if sys.version_info[:2] == GUEST_PYTHON:
        return sys.executable
    for name in ("python3.11",):
        found = shutil.which(name)
        if found:
            return found
    raise E2EError("wheelhouse", "a host python3.11 is needed to build cp311 wheels for the bookworm guest")


def _cp(python):
    return f"cp{python[0]}{python[1]}"


def ensure_wheelhouse(log=print, suite=SUITE):
    """Wheels of salt and its dependencies for the guest's Python, built once on the host.

    The host's own Python (3.11, bookworm's) builds them with ``pip wheel``. For another guest
    Python (trixie's 3.13) the pure-Python wheels are reused and every platform wheel is
    downloaded as a binary for that Python (``pip download --only-binary=:all:
    --python-version``); see ``NO_BINARY_FOR_GUEST`` for what has none.
    """
    python = SUITE_PYTHON[suite]
    if python == GUEST_PYTHON:
        return _host_wheelhouse(log)
    dest = cache_dir() / f"wheels-salt-{SALT_VERSION}-{_cp(python)}"
    if (dest / ".complete").exists():
        return dest
    host = _host_wheelhouse(log)
    with cache_lock("wheels"):
        if (dest / ".complete").exists():
            return dest
        tmp = Path(str(dest) + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        platform_reqs = []
        for wheel in sorted(host.glob("*.whl")):
            name, version, *_rest, tag = wheel.name[:-4].split("-")
            if tag == "any":
                shutil.copy2(wheel, tmp / wheel.name)
            elif name.lower() not in NO_BINARY_FOR_GUEST:
                platform_reqs.append(f"{name}=={version}")
        log(f"wheelhouse: pip download --only-binary for {_cp(python)}: {platform_reqs}")
        version = f"{python[0]}.{python[1]}"
        run([python_for_wheels(), "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--only-binary=:all:", "--python-version", version, "--implementation", "cp",
             "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_28_x86_64",
             "--platform", "manylinux_2_34_x86_64", "--dest", tmp, *platform_reqs],
            "wheelhouse", timeout=1200)
        (tmp / ".complete").write_text(time.strftime("%FT%T%z"), encoding="utf-8")
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
    return dest


def _host_wheelhouse(log):
    dest = cache_dir() / f"wheels-salt-{SALT_VERSION}-{_cp(GUEST_PYTHON)}"
    done = dest / ".complete"
    if done.exists():
        return dest
    with cache_lock("wheels"):
        if done.exists():
            return dest
        tmp = Path(str(dest) + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        log(f"wheelhouse: pip wheel salt=={SALT_VERSION} -> {dest}")
        run(
            [python_for_wheels(), "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
             "--wheel-dir", tmp, f"salt=={SALT_VERSION}"],
            "wheelhouse",
            timeout=1200,
        )
        if not list(tmp.glob("salt-*.whl")):
            raise E2EError("wheelhouse", f"pip wheel produced no salt wheel in {tmp}")
        (tmp / ".complete").write_text(time.strftime("%FT%T%z"), encoding="utf-8")
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
    return dest


class _Mounts:
    """Loop device, mounts and the host's by-uuid link, undone in reverse order."""

    def __init__(self):
        self._undo = []

    def push(self, argv=None, func=None):
        self._undo.append((argv, func))

    def close(self):
        errors = []
        while self._undo:
            argv, func = self._undo.pop()
            try:
                if argv:
                    run(argv, "image-cleanup", timeout=120)
                else:
                    func()
            except Exception as exc:  # keep undoing the rest, report all at the end
                errors.append(str(exc))
        if errors:
            raise E2EError("image-cleanup", "; ".join(errors))


def _partition_node(loop):
    """``/dev/loopNp1``: asks the kernel with ``partx -a`` and makes the node if udev is absent."""
    part = f"{loop}p1"
    if not os.path.exists(part):
        with contextlib.suppress(E2EError):
            run(["partx", "-a", loop], "image-disk")
    if not os.path.exists(part):
        sys_dev = Path("/sys/class/block") / (Path(loop).name + "p1") / "dev"
        if sys_dev.exists():
            major, minor = sys_dev.read_text(encoding="utf-8").strip().split(":")
            os.mknod(part, 0o600 | 0o060000, os.makedev(int(major), int(minor)))
    if not os.path.exists(part):
        raise E2EError("image-disk", f"partition node {part} did not appear (losetup -P, partx -a, mknod)")
    return part


def _by_uuid_link(root_uuid, part, mounts):
    """update-grub writes ``root=UUID=`` only when /dev/disk/by-uuid/<uuid> exists (no udev here)."""
    link_dir = Path("/dev/disk/by-uuid")
    created = [d for d in (link_dir.parent, link_dir) if not d.exists()]
    link_dir.mkdir(parents=True, exist_ok=True)
    link = link_dir / root_uuid
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(part)

    def undo():
        link.unlink(missing_ok=True)
        for directory in reversed(created):
            with contextlib.suppress(OSError):
                directory.rmdir()

    mounts.push(func=undo)


def _chroot(mnt, argv, phase, timeout=900):
    return run(["chroot", mnt, *argv], phase, env=CHROOT_ENV, timeout=timeout)


def _install_guest_files(mnt, root_uuid, variant="step"):
    etc = Path(mnt, "etc")
    (etc / "hostname").write_text(GUEST_HOSTNAME + "\n", encoding="utf-8")
    (etc / "hosts").write_text(f"127.0.0.1 localhost\n127.0.1.1 {GUEST_HOSTNAME}\n", encoding="utf-8")
    (etc / "fstab").write_text(f"UUID={root_uuid} / ext4 errors=remount-ro 0 1\n", encoding="utf-8")
    (etc / "default" / "grub").write_text(GRUB_DEFAULTS, encoding="utf-8")
    (etc / "modules-load.d").mkdir(exist_ok=True)
    (etc / "modules-load.d" / "kdump-e2e.conf").write_text("9p\n9pnet_virtio\n", encoding="utf-8")
    # Under TCG every module load costs seconds: skip what this guest never uses.
    (etc / "modprobe.d" / "kdump-e2e-blacklist.conf").write_text(
        "".join(f"blacklist {name}\n" for name in UNUSED_MODULES), encoding="utf-8"
    )
    # Every later initramfs rebuild happens inside the guest under TCG, where MODULES=most (a
    # modinfo per module of the whole tree) took over 15 minutes when kdump-tools' install
    # triggered update-initramfs; MODULES=dep includes only what this guest uses. The image's own
    # initramfs was built by debootstrap before this drop-in exists, so it stays generic.
    (etc / "initramfs-tools" / "conf.d" / "kdump-e2e-modules").write_text(
        "MODULES=dep\n", encoding="utf-8"
    )
    # The guest has no network: apt knows only the local repository on the share.
    (etc / "apt" / "sources.list").write_text(
        "# kdump-formula e2e guest: no network; packages come from the host share\n" + LOCAL_REPO_LINE,
        encoding="utf-8",
    )
    runner = Path(mnt) / STEP_RUNNER.lstrip("/")
    runner.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(GUEST_FILES / "kdump-e2e-step", runner)
    runner.chmod(0o755)
    shutil.copyfile(GUEST_FILES / STEP_UNIT, Path(mnt, "etc/systemd/system", STEP_UNIT))
    Path(mnt, "mnt/host").mkdir(parents=True, exist_ok=True)
    if variant == "fleet":
        prepare = Path(mnt) / FLEET_PREPARE.lstrip("/")
        shutil.copyfile(GUEST_FILES / "kdump-fleet-prepare", prepare)
        prepare.chmod(0o755)
        shutil.copyfile(GUEST_FILES / FLEET_UNIT, Path(mnt, "etc/systemd/system", FLEET_UNIT))
        # bookworm's kexec-tools answers its debconf question "load_kexec" with true when
        # installed noninteractively: every boot then loads a second kernel for kexec reboots
        # (a minute under TCG) and a reboot may kexec inside the QEMU process instead of ending
        # it. A fleet guest reboots by powering off (the harness starts the next QEMU process),
        # as trixie's default already does.
        kexec_defaults = etc / "default" / "kexec"
        if kexec_defaults.exists():
            text = kexec_defaults.read_text(encoding="utf-8")
            kexec_defaults.write_text(re.sub(r"(?m)^LOAD_KEXEC=.*$", "LOAD_KEXEC=false", text), encoding="utf-8")
        # Each guest is its own machine: systemd writes a new machine-id at its first boot.
        (etc / "machine-id").write_text("", encoding="utf-8")
        Path(mnt, "var/lib/dbus/machine-id").unlink(missing_ok=True)


def _update_grub_without_reservation(mnt):
    """grub.cfg as on a machine where kdump-tools was just installed and not yet rebooted.

    kdump-tools' drop-in (``/etc/default/grub.d/kdump-tools.cfg``) adds ``crashkernel=`` at the
    next update-grub; the image's first boot must not have it yet, or the fleet would boot
    with the reservation already live and have no reboot pending for the formula to report.
    """
    drop_in = Path(mnt, "etc/default/grub.d/kdump-tools.cfg")
    aside = drop_in.with_name("kdump-tools.cfg.image-build")
    moved = drop_in.exists()
    if moved:
        os.replace(drop_in, aside)
    try:
        _chroot(mnt, ["update-grub"], "image-grub")
    finally:
        if moved:
            os.replace(aside, drop_in)


# The capture initrd's modules: what the capture kernel needs to mount this guest's root
# (virtio disk, ext4); the rest (dm_mod for the dump LV, 9p) loads from the root after it.
CAPTURE_INITRD_MODULES = ["virtio_pci", "virtio_blk", "ext4"]


def _build_capture_initrd(mnt, release):
    """The capture initrd, built once at image time as kdump-tools' kernel hook would on a
    real machine (``/etc/kernel/postinst.d/kdump-tools``: a copy of /etc/initramfs-tools in
    /var/lib/kdump with ``KDUMP=y``; the 1.10 hook skips inside a chroot, leaving it to the
    first boot with a reservation, which costs the fleet minutes under TCG).

    MODULES=list with the guest's known hardware instead of the hook's MODULES=dep, which in a
    chroot would detect the host's. ``latest_sysctls-<release>`` is what ``kdump-config load``
    compares /etc/kdump/sysctl.conf with; equal, it keeps this initrd. The single-host
    scenario's image has no kdump-tools: it proves the build inside the guest."""
    kdump_dir = Path(mnt, "var/lib/kdump")
    confdir = kdump_dir / "initramfs-tools"
    shutil.rmtree(confdir, ignore_errors=True)
    shutil.copytree(Path(mnt, "etc/initramfs-tools"), confdir, symlinks=True)
    (confdir / "conf.d").mkdir(exist_ok=True)
    (confdir / "conf.d" / "zzz-kdump").write_text("MODULES=list\n", encoding="utf-8")
    with open(confdir / "modules", "a", encoding="utf-8") as modules:
        modules.write("".join(f"{name}\n" for name in CAPTURE_INITRD_MODULES))
    with open(confdir / "initramfs.conf", "a", encoding="utf-8") as conf:
        conf.write("KDUMP=y\n")
    initrd = f"/var/lib/kdump/initrd.img-{release}"
    _chroot(mnt, ["mkinitramfs", "-d", "/var/lib/kdump/initramfs-tools", "-o", initrd, release],
            "image-capture-initrd")
    shutil.copyfile(Path(mnt, "etc/kdump/sysctl.conf"), kdump_dir / f"latest_sysctls-{release}")
    return Path(mnt, initrd.lstrip("/")).stat().st_size


def _install_salt(mnt, wheels, suite):
    """Salt in a venv at /opt/salt, offline from the wheelhouse; proves it answers a test.ping."""
    guest_wheels = mnt / "tmp/wheels"
    shutil.copytree(wheels, guest_wheels)
    _chroot(mnt, ["python3", "-m", "venv", "/opt/salt"], "image-salt")
    pip = ["/opt/salt/bin/pip", "install", "--quiet", "--disable-pip-version-check", "--no-index",
           "--find-links", "/tmp/wheels"]
    if SUITE_PYTHON[suite] == GUEST_PYTHON:
        _chroot(mnt, [*pip, f"salt=={SALT_VERSION}"], "image-salt", timeout=900)
    else:
        # Everything of the wheelhouse, without resolving: see NO_BINARY_FOR_GUEST.
        names = sorted(f"/tmp/wheels/{p.name}" for p in guest_wheels.glob("*.whl"))
        _chroot(mnt, [*pip, "--no-deps", *names], "image-salt", timeout=900)
    shutil.rmtree(guest_wheels)
    version = _chroot(mnt, ["/opt/salt/bin/salt-call", "--version"], "image-salt").strip()
    if SALT_VERSION not in version:
        raise E2EError("image-salt", f"guest salt-call reports {version!r}, wanted {SALT_VERSION}")
    ping = _chroot(mnt, ["/opt/salt/bin/salt-call", "--local", "--out=json", "--log-level=quiet",
                         "grains.item", "pythonversion", "saltversion"], "image-salt", timeout=300)
    grains = json.loads(ping)["local"]
    pong = json.loads(_chroot(mnt, ["/opt/salt/bin/salt-call", "--local", "--out=json", "--log-level=quiet",
                                    "test.ping"], "image-salt", timeout=300))
    if pong != {"local": True}:
        raise E2EError("image-salt", f"salt-call --local test.ping in the {suite} chroot answered {pong}")
    for leftover in ("etc/salt", "var/cache/salt", "var/log/salt", "var/run/salt", "run/salt"):
        shutil.rmtree(mnt / leftover, ignore_errors=True)
    return {"salt_call_version": version, "test_ping": True,
            "python": ".".join(str(p) for p in grains["pythonversion"][:3]),
            "saltversion": grains["saltversion"]}


def _build(key, log, suite=SUITE, variant="step"):
    started = time.monotonic()
    phases = {}

    def phase_done(name, since):
        phases[name] = round(time.monotonic() - since, 1)
        log(f"image: {name} took {phases[name]}s")

    mirror = debian_mirror(suite)
    t = time.monotonic()
    wheels = ensure_wheelhouse(log, suite)
    phase_done("wheelhouse", t)

    final_raw = cache_dir() / f"base-{key}.raw"
    work = Path(tempfile.mkdtemp(prefix=f"base-{key}.", dir=cache_dir()))
    raw = work / "disk.raw"
    mnt = work / "mnt"
    mnt.mkdir()
    root_uuid = str(uuid.uuid4())
    mounts = _Mounts()
    try:
        t = time.monotonic()
        run(["truncate", "-s", IMAGE_SIZE, raw], "image-disk")
        run(["parted", "-s", raw, "mklabel", "msdos", "mkpart", "primary", "ext4", "1MiB", "100%",
             "set", "1", "boot", "on"], "image-disk")
        loop = run(["losetup", "-P", "-f", "--show", raw], "image-disk").strip()
        mounts.push(["losetup", "-d", loop])
        part = _partition_node(loop)
        run(["mkfs.ext4", "-q", "-F", "-U", root_uuid, "-L", "e2e-root", part], "image-disk")
        run(["mount", part, mnt], "image-disk")
        mounts.push(["umount", mnt])
        phase_done("disk", t)

        t = time.monotonic()
        log(f"image: debootstrap {suite} ({variant}) from {mirror} (about 100 s)")
        run(["debootstrap", "--variant=minbase", "--components=main",
             "--include=" + ",".join(_packages(variant)), suite, mnt, mirror],
            "image-debootstrap", timeout=1800)
        phase_done("debootstrap", t)

        t = time.monotonic()
        for fs in ("dev", "dev/pts", "proc", "sys"):
            run(["mount", "--bind", f"/{fs}", mnt / fs], "image-chroot")
            mounts.push(["umount", "-l", mnt / fs])
        _by_uuid_link(root_uuid, part, mounts)
        _install_guest_files(mnt, root_uuid, variant)
        # A fleet image runs its salt-minion, or one step when the share holds step.sh (the
        # bench's boots: bench/crashkernel_bisect.py); the step unit goes first (guest_files/).
        _chroot(mnt, ["systemctl", "enable", *([STEP_UNIT, FLEET_UNIT] if variant == "fleet" else [STEP_UNIT])],
                "image-chroot")
        _chroot(mnt, ["systemctl", "mask", *UNUSED_UNITS], "image-chroot")
        _chroot(mnt, ["passwd", "-d", "root"], "image-chroot")
        _chroot(mnt, ["grub-install", "--target=i386-pc", loop], "image-grub")
        _update_grub_without_reservation(mnt)
        grub_cfg = (mnt / "boot/grub/grub.cfg").read_text(encoding="utf-8")
        if f"root=UUID={root_uuid}" not in grub_cfg:
            raise E2EError("image-grub", f"grub.cfg does not boot root=UUID={root_uuid}")
        phase_done("bootloader", t)

        t = time.monotonic()
        salt_check = _install_salt(mnt, wheels, suite)
        log(f"image: salt in the {suite} chroot: {salt_check}")
        phase_done("salt", t)

        t = time.monotonic()
        kernels = sorted(p.name[len("vmlinuz-"):] for p in (mnt / "boot").glob("vmlinuz-*"))
        if len(kernels) != 1:
            raise E2EError("image", f"expected one guest kernel, found {kernels}")
        release = kernels[0]
        kernel_package = f"linux-image-{release}"
        kernel_version = _chroot(mnt, ["dpkg-query", "-W", "-f", "${Version}", kernel_package], "image").strip()
        if variant == "fleet":
            size = _build_capture_initrd(mnt, release)
            log(f"image: capture initrd for {release}: {size} bytes")
        _chroot(mnt, ["apt-get", "clean"], "image-chroot")
        for stale in (mnt / "var/lib/apt/lists").glob("*_dists_*"):
            stale.unlink()
        status_copy = cache_dir() / f"base-{key}.dpkg-status"
        shutil.copyfile(mnt / "var/lib/dpkg/status", status_copy)
        phase_done("finish", t)
    finally:
        mounts.close()
    os.replace(raw, final_raw)
    shutil.rmtree(work, ignore_errors=True)
    image = BaseImage(
        key=key,
        path=str(final_raw),
        dpkg_status=str(status_copy),
        kernel_release=release,
        kernel_package=kernel_package,
        kernel_version=kernel_version,
        root_uuid=root_uuid,
        salt_version=SALT_VERSION,
        mirror=mirror,
        suite=suite,
        variant=variant,
        python=salt_check["python"],
        salt_check=salt_check,
        build_seconds=round(time.monotonic() - started, 1),
        phase_seconds=phases,
        built_at=time.strftime("%FT%T%z"),
    )
    meta = _meta_path(key)
    meta.with_suffix(".tmp").write_text(json.dumps(asdict(image), indent=2), encoding="utf-8")
    os.replace(meta.with_suffix(".tmp"), meta)
    log(f"image: built {final_raw} in {image.build_seconds}s")
    return image


def main(argv=None):
    """Small CLI: build/reuse the image (and optionally the repo and debug vmlinux)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv else "build"
    suite = argv[1] if len(argv) > 1 else SUITE
    variant = argv[2] if len(argv) > 2 else ("step" if suite == SUITE else "fleet")
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    if command == "info":
        image = cached_image(suite, variant)
        print(json.dumps(asdict(image) if image else None, indent=2))
        return 0 if image else 1
    if command not in ("build", "repo", "vmlinux"):
        print(__doc__, file=sys.stderr)
        return 2
    started = time.monotonic()
    image = ensure_image(log, suite, variant)
    out = {"image": asdict(image), "ensure_seconds": round(time.monotonic() - started, 1)}
    if command == "repo":
        from tests.e2e import repo

        out["repo"] = str(repo.ensure_repo(image, log))
    if command == "vmlinux":
        from tests.e2e import debug_symbols

        out["vmlinux"] = str(debug_symbols.ensure_debug_vmlinux(image, log))
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
