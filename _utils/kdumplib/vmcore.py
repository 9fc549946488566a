"""Crash dumps as kdump leaves them: directory layouts, dump-file formats, dmesg and crash output.

Pure logic, no Salt and no I/O: callers list directories and read bytes, and pass them in.

Directory layouts (facts from the tools that write them):

* RHEL (kexec-tools ``kdump-lib-initramfs.sh``): ``<path>/<host-ip>-<YYYY-MM-DD-HH:MM:SS>/``
  with ``vmcore`` (``vmcore-incomplete`` while it is being written, ``vmcore.flat`` for ssh
  targets) and ``vmcore-dmesg.txt``.
* Debian kdump-tools (``kdump-config`` ``kdump_save_core``): ``<KDUMP_COREDIR>/<YYYYmmddHHMM>/``
  (``<host-or-ip>-<stamp>`` for network targets) with ``dump.<stamp>`` (plus ``.gz``/``.bz2``/
  ``.lz4``/``.xz`` when ``KDUMP_COMPRESSION`` is set; ``dump-incomplete`` while written;
  ``vmcore.<stamp>``/``vmcore-incomplete`` when makedumpfile failed and ``cp`` was used) and
  ``dmesg.<stamp>``.
* SUSE kdumptool: ``<path>/<YYYY-MM-DD-HH:MM>/`` with ``vmcore`` and ``README.txt``
  (``dmesg.txt`` when the dmesg was saved).

Dump-file formats, recognised from their first bytes:

* ELF (``\\x7fELF``): ``/proc/vmcore`` copied as is, or ``makedumpfile -E``.
* kdump-compressed (``KDUMP   ``): makedumpfile's default ``-c``/``-l``/``-p``/``-z`` output.
  64-bit header layout (makedumpfile ``diskdump_mod.h`` ``struct disk_dump_header``):
  ``signature[8]`` at 0, ``header_version`` int32 at 8, ``struct new_utsname`` at 12 (six
  fields of 65 bytes: sysname 12, nodename 77, **release 142**, version 207, machine 272,
  domainname 337), padding to 408, ``struct timeval`` at 408 (16 bytes), **status** uint32 at
  424, ``block_size`` int32 at 428, ``sub_hdr_size`` int32 at 432, ``bitmap_blocks`` uint32 at
  436. On 32-bit machines the timeval is 8 bytes and starts at 404: status at 412,
  block_size 416, sub_hdr_size 420, bitmap_blocks 424. Status bit 0x8
  (``DUMP_DH_COMPRESSED_INCOMPLETE``) marks a dump makedumpfile could not finish.
  Integers are in the dumped machine's byte order (little-endian on x86).
* flattened (``makedumpfile`` NUL-padded to 16 bytes): ``makedumpfile -F`` (Debian's default).
  A 4096-byte ``makedumpfile_header``, then segments, each a big-endian
  ``makedumpfile_data_header`` ``{int64 offset; int64 buf_size}`` followed by ``buf_size``
  bytes; the stream ends with a header whose two fields are -1 (16 bytes of 0xff). The first
  segment normally holds the kdump-compressed header (offset 0).
* ``DISKDUMP``: the old diskdump format (same header layout as kdump-compressed).
* gzip/bzip2/xz/lz4: kdump-tools' ``KDUMP_COMPRESSION`` wrapped around a flattened dump.
"""

import datetime
import re
import struct

# --------------------------------------------------------------------------- layouts

DEFAULT_DUMP_DIR = "/var/crash"

_RHEL_DIR = re.compile(r"^(?P<host>.+)-(?P<stamp>\d{4}-\d{2}-\d{2}-\d{2}:\d{2}:\d{2})$")
_DEBIAN_DIR = re.compile(r"^(?:(?P<host>.+)-)?(?P<stamp>\d{12})$")
_SUSE_DIR = re.compile(r"^(?P<stamp>\d{4}-\d{2}-\d{2}-\d{2}:\d{2})$")
_COMPRESSION_EXT = r"(?:\.(?:gz|bz2|lz4|xz))?"

LAYOUTS = (
    {
        "name": "rhel",
        "dir": _RHEL_DIR,
        "time_format": "%Y-%m-%d-%H:%M:%S",
        "dumps": ("vmcore", "vmcore.flat"),
        "incomplete": ("vmcore-incomplete",),
        "dmesg": ("vmcore-dmesg.txt",),
        "markers": (),
    },
    {
        "name": "debian",
        "dir": _DEBIAN_DIR,
        "time_format": "%Y%m%d%H%M",
        # {stamp} is replaced by the directory's time stamp.
        "dumps": (r"dump\.{stamp}" + _COMPRESSION_EXT, r"vmcore\.{stamp}"),
        "incomplete": (r"dump-incomplete" + _COMPRESSION_EXT, r"vmcore-incomplete"),
        "dmesg": (r"dmesg\.{stamp}",),
        "markers": (),
    },
    {
        "name": "suse",
        "dir": _SUSE_DIR,
        "time_format": "%Y-%m-%d-%H:%M",
        "dumps": ("vmcore",),
        "incomplete": (),
        "dmesg": ("dmesg.txt",),
        "markers": ("README.txt",),
    },
)


def _names_matching(patterns, stamp, filenames, regex):
    found = []
    for pattern in patterns:
        if regex:
            compiled = re.compile("^" + pattern.replace("{stamp}", re.escape(stamp)) + "$")
            found.extend(name for name in sorted(filenames) if compiled.match(name))
        elif pattern in filenames:
            found.append(pattern)
    return found


def match_dump_dir(name, filenames):
    """Recognise one dump directory from its name and the names of the files in it.

    Returns ``{"layout", "host", "time" (ISO-8601), "dump" (file name or None),
    "incomplete" (bool: only a temporary file is there), "dmesg" (file name or None)}``,
    or None when the directory is not a kdump directory: its name must carry a valid time
    stamp and it must hold at least one file the layout writes.
    """
    filenames = set(filenames)
    for layout in LAYOUTS:
        match = layout["dir"].match(name)
        if not match:
            continue
        stamp = match.group("stamp")
        try:
            when = datetime.datetime.strptime(stamp, layout["time_format"])
        except ValueError:
            continue
        regex = layout["name"] == "debian"
        dumps = _names_matching(layout["dumps"], stamp, filenames, regex)
        temps = _names_matching(layout["incomplete"], stamp, filenames, regex)
        dmesg = _names_matching(layout["dmesg"], stamp, filenames, regex)
        markers = [m for m in layout["markers"] if m in filenames]
        if not (dumps or temps or dmesg or markers):
            continue
        return {
            "layout": layout["name"],
            "host": match.groupdict().get("host"),
            "time": when.isoformat(),
            "dump": (dumps or temps or [None])[0],
            "incomplete": not dumps and bool(temps),
            "dmesg": dmesg[0] if dmesg else None,
        }
    return None


# --------------------------------------------------------------------------- formats

_GZIP, _BZIP2, _XZ, _LZ4 = b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x04\x22\x4d\x18"
FLAT_SIGNATURE = b"makedumpfile"
FLAT_HEADER_SIZE = 4096
FLAT_END = b"\xff" * 16
KDUMP_SIGNATURE = b"KDUMP   "
DISKDUMP_SIGNATURE = b"DISKDUMP"
UTS_FIELD = 65
UTS_OFFSET = 12
RELEASE_OFFSET = UTS_OFFSET + 2 * UTS_FIELD  # 142
MACHINE_OFFSET = UTS_OFFSET + 4 * UTS_FIELD  # 272
STATUS_OFFSET_64 = 424
STATUS_OFFSET_32 = 412
STATUS_INCOMPLETE = 0x8
_32BIT_MACHINES = ("i386", "i486", "i586", "i686", "arm", "armv7l", "mips", "ppc", "s390")
ELF_MAGIC = b"\x7fELF"
PT_LOAD, PT_NOTE = 1, 4
MAX_NOTE_BYTES = 1 << 20
_OSRELEASE = re.compile(rb"OSRELEASE=([^\n\x00]+)")


def _cstring(raw):
    return raw.split(b"\x00", 1)[0].decode("ascii", "replace").strip() or None


def _kdump_header(header, size, base=0):
    """Facts from a kdump-compressed header (``header`` starts at the signature)."""
    if len(header) < STATUS_OFFSET_64 + 16:
        return {"complete": False, "kernel": None, "reason": "header is truncated"}
    machine = _cstring(header[MACHINE_OFFSET:MACHINE_OFFSET + UTS_FIELD]) or ""
    status_at = STATUS_OFFSET_32 if machine in _32BIT_MACHINES else STATUS_OFFSET_64
    big_endian = machine.startswith(("s390", "ppc64")) and not machine.endswith("le")
    order = ">" if big_endian else "<"
    status, block_size, sub_hdr_size, bitmap_blocks = struct.unpack_from(
        order + "IiiI", header, status_at
    )
    result = {"complete": True, "kernel": _cstring(header[RELEASE_OFFSET:RELEASE_OFFSET + UTS_FIELD]),
              "reason": None}
    if status & STATUS_INCOMPLETE:
        result.update(complete=False, reason="makedumpfile marked the dump incomplete")
    elif block_size > 0 and size is not None and base == 0:
        needed = block_size * (1 + sub_hdr_size + bitmap_blocks)
        if size < needed:
            result.update(complete=False,
                          reason=f"file is {size} bytes, its headers alone need {needed}")
    return result


def _elf(read, size):
    ident = read(0, 64)
    if len(ident) < 52:
        return {"complete": False, "kernel": None, "reason": "ELF header is truncated"}
    order = "<" if ident[5] == 1 else ">"
    if ident[4] == 2:  # ELFCLASS64
        phoff, = struct.unpack_from(order + "Q", ident, 0x20)
        phentsize, phnum = struct.unpack_from(order + "HH", ident, 0x36)
        layout, fields = order + "IIQQQQQQ", (2, 5, 0)  # offset, filesz, type
    else:
        phoff, = struct.unpack_from(order + "I", ident, 0x1C)
        phentsize, phnum = struct.unpack_from(order + "HH", ident, 0x2A)
        layout, fields = order + "IIIIIIII", (1, 4, 0)
    table = read(phoff, phentsize * phnum)
    if len(table) < phentsize * phnum:
        return {"complete": False, "kernel": None, "reason": "ELF program headers are truncated"}
    end, kernel = 0, None
    for index in range(phnum):
        entry = struct.unpack_from(layout, table, index * phentsize)
        p_offset, p_filesz, p_type = (entry[i] for i in fields)
        end = max(end, p_offset + p_filesz)
        if p_type == PT_NOTE and kernel is None:
            found = _OSRELEASE.search(read(p_offset, min(p_filesz, MAX_NOTE_BYTES)))
            if found:
                kernel = found.group(1).decode("ascii", "replace")
    if size is not None and size < end:
        return {"complete": False, "kernel": kernel,
                "reason": f"file is {size} bytes, its segments end at {end}"}
    return {"complete": True, "kernel": kernel, "reason": None}


def _flattened(read, size):
    facts = {"complete": True, "kernel": None, "reason": None}
    segment = read(FLAT_HEADER_SIZE, 16)
    if len(segment) == 16:
        offset, buf_size = struct.unpack(">qq", segment)
        if offset == 0 and buf_size > 0:
            first = read(FLAT_HEADER_SIZE + 16, min(buf_size, 4096))
            if first.startswith((KDUMP_SIGNATURE, DISKDUMP_SIGNATURE)):
                header = _kdump_header(first, None, base=FLAT_HEADER_SIZE + 16)
                facts.update(kernel=header["kernel"])
                if not header["complete"]:
                    facts.update(complete=False, reason=header["reason"])
    if facts["complete"] and (size is None or size < FLAT_HEADER_SIZE + 16
                              or read(size - 16, 16) != FLAT_END):
        facts.update(complete=False, reason="flattened stream has no end marker (truncated)")
    return facts


def identify(read, size):
    """Name a dump file's format and say whether it is complete.

    ``read(offset, length)`` returns the file's bytes there (fewer at the end of the file);
    ``size`` is the file size in bytes. Returns ``{"format", "complete", "kernel", "reason"}``
    where ``kernel`` is the crashed kernel's release when the format records it and ``reason``
    says why a dump is incomplete.
    """
    if not size:
        return {"format": "empty", "complete": False, "kernel": None, "reason": "file is empty"}
    head = read(0, 16)
    if head.startswith(ELF_MAGIC):
        return {"format": "elf", **_elf(read, size)}
    if head.startswith(KDUMP_SIGNATURE) or head.startswith(DISKDUMP_SIGNATURE):
        name = "kdump-compressed" if head.startswith(KDUMP_SIGNATURE) else "diskdump"
        return {"format": name, **_kdump_header(read(0, 4096), size)}
    if head[:16] == FLAT_SIGNATURE.ljust(16, b"\x00"):
        return {"format": "flattened", **_flattened(read, size)}
    for magic, name in ((_GZIP, "gzip"), (_BZIP2, "bzip2"), (_XZ, "xz"), (_LZ4, "lz4")):
        if head.startswith(magic):
            return {"format": name, "complete": True, "kernel": None, "reason": None}
    return {"format": "unknown", "complete": False, "kernel": None,
            "reason": "no known dump signature at the start of the file"}


# --------------------------------------------------------------------------- dmesg

DMESG_TAIL_LINES = 50
_PREFIX = re.compile(r"^(?:<\d>)?(?:\[\s*\d+\.\d+\]\s?)?(?:\[\s*[TC]\d+\]\s?)?(?:<\d>)?")
_LINUX_VERSION = re.compile(r"Linux version (\S+)")
_PANIC = re.compile(r"Kernel panic - not syncing: .*")
_OOPS_HEADLINES = (
    re.compile(r"BUG: .*"),
    re.compile(r"Unable to handle kernel .*"),
    re.compile(r"general protection fault.*"),
    re.compile(r"kernel BUG at .*"),
    re.compile(r"Oops: .*"),
)
_TASK_NEW = re.compile(r"CPU: (?P<cpu>\d+) (?:UID: \d+ )?PID: (?P<pid>\d+) Comm: (?P<comm>\S+)")
_TASK_OLD = re.compile(r"Pid: (?P<pid>\d+), comm: (?P<comm>\S+)")
_CPU_OLD = re.compile(r"^CPU (?P<cpu>\d+)\s*$")
_FRAME = re.compile(
    r"^(?:\? )?(?:\[<[0-9a-f]+>\]\s+)?(?:\? )?[\w.:$]+\+0x[0-9a-f]+/0x[0-9a-f]+(?:\s+\[[\w-]+\])?\s*$"
)
_TRACE_END = re.compile(r"^(?:</TASK>|Code: |---\[ end |Kernel Offset: |RIP  \[<)")


def strip_prefix(line):
    """Remove the printk time stamp / caller id / log level from one dmesg line."""
    return _PREFIX.sub("", line.rstrip("\r\n"), count=1)


def _last_match(pattern, lines):
    found = None
    for line in lines:
        match = pattern.search(line)
        if match:
            found = match
    return found


def _call_trace(lines):
    """Frames after the last ``Call Trace:`` up to its end marker, register lines skipped."""
    starts = [i for i, line in enumerate(lines) if line.strip() == "Call Trace:"]
    if not starts:
        return []
    frames = []
    for line in lines[starts[-1] + 1:]:
        text = line.strip()
        if not text or _TRACE_END.match(text):
            if frames or text:
                break
            continue
        if _FRAME.match(text):
            frames.append(text)
    return frames


def _first_oops_headline(lines):
    for line in lines:
        for pattern in _OOPS_HEADLINES:
            match = pattern.match(line)
            if match:
                return match.group(0).strip()
    return None


def parse_dmesg(text):
    """Read a crashed kernel's log (``makedumpfile --dump-dmesg`` output or the saved dmesg).

    Returns ``{"panic", "task", "pid", "cpu", "call_trace", "dmesg_tail", "kernel"}``:
    the last ``Kernel panic - not syncing:`` line (else the first oops headline such as
    ``BUG: ...``/``Unable to handle kernel ...``), the crashing task's command name, PID and
    CPU (``CPU: 1 PID: 601 Comm: bash`` or the old ``Pid: 3211, comm: insmod``), the frames of
    the last call trace, the last lines of the log and the ``Linux version`` release.
    Raises ValueError when ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise ValueError(f"dmesg: expected text, got {type(text).__name__}")
    raw = text.splitlines()
    lines = [strip_prefix(line) for line in raw]
    panic = _last_match(_PANIC, lines)
    panic_text = panic.group(0).strip() if panic else None
    if panic_text is None:
        panic_text = _first_oops_headline(lines)
    task = _last_match(_TASK_NEW, lines)
    pid = cpu = comm = None
    if task:
        comm, pid, cpu = task.group("comm"), int(task.group("pid")), int(task.group("cpu"))
    else:
        task = _last_match(_TASK_OLD, lines)
        if task:
            comm, pid = task.group("comm"), int(task.group("pid"))
            old_cpu = _last_match(_CPU_OLD, lines)
            cpu = int(old_cpu.group("cpu")) if old_cpu else None
    version = _last_match(_LINUX_VERSION, lines)
    return {
        "panic": panic_text,
        "task": comm,
        "pid": pid,
        "cpu": cpu,
        "call_trace": _call_trace(lines),
        "dmesg_tail": [line.rstrip() for line in raw[-DMESG_TAIL_LINES:]],
        "kernel": version.group(1) if version else None,
    }


# --------------------------------------------------------------------------- crash

CRASH_COMMANDS = ("sys", "bt", "log")


def crash_script(outdir):
    """The stdin for ``crash -s VMLINUX DUMP``: each command's output redirected to
    ``<outdir>/<command>.out`` (crash's own ``>`` redirection), then ``quit``."""
    if not outdir.startswith("/") or any(c in outdir for c in " \t\n|><;&$`'\""):
        raise ValueError(f"outdir: {outdir!r} must be an absolute path without shell characters")
    lines = ["set scroll off"]
    lines += [f"{command} > {outdir}/{command}.out" for command in CRASH_COMMANDS]
    lines.append("quit")
    return "\n".join(lines) + "\n"


_SYS_FIELD = re.compile(r"^\s*(?P<key>[A-Z][A-Z ]*[A-Z]):\s(?P<value>.*)$")


def parse_crash_sys(text):
    """``crash``'s ``sys`` output → ``{"KERNEL": ..., "RELEASE": ..., "PANIC": ...}``.

    The ``PANIC`` value loses its surrounding quotes. Lines that are not ``KEY: value`` are
    ignored. Raises ValueError when ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise ValueError(f"sys: expected text, got {type(text).__name__}")
    fields = {}
    for line in text.splitlines():
        match = _SYS_FIELD.match(line)
        if match:
            value = match.group("value").strip()
            if match.group("key") == "PANIC" and len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            fields[match.group("key")] = value
    return fields


def debug_vmlinux_candidates(release):
    """Where distributions install the debug vmlinux of ``release`` (Debian/Ubuntu, RHEL/SUSE)."""
    if not release or "/" in release or release in (".", ".."):
        return []
    return [
        f"/usr/lib/debug/boot/vmlinux-{release}",
        f"/usr/lib/debug/lib/modules/{release}/vmlinux",
    ]
