"""``kdump:passthrough``: the distribution keys the neutral settings do not model.

Each section is one file of one OS family and lists the keys it accepts, each with a grammar
as strict as the neutral schema's (no whitespace inside a word, no quote, no shell
metacharacter, no newline), so what reaches a file is plain words written by the same line
writers as the rest (``kdumpconf._conf_line`` for kdump.conf, ``kdumpconf.shell_line`` for
shell-sourced files):

* ``kdump_conf`` (RedHat ``/etc/kdump.conf``, read by kdumpctl);
* ``sysconfig`` (RedHat ``/etc/sysconfig/kdump``, read by kdumpctl when it loads the crash
  kernel; its ``KDUMP_COMMANDLINE_APPEND`` comes from ``kdump:settings:capture_cmdline_append``);
* ``kdump_tools`` (Debian ``/etc/default/kdump-tools``, read by kdump-config; the variables of
  kdump-tools 1.8.1 and 1.10.7).

A key given with a value is written; given as null it is removed from the file (the tool's
default applies); a key not given is left as the file has it. A key the neutral settings
manage is refused naming the setting to use instead; an unknown key is refused listing the
known ones. Pure code: no Salt, no I/O.
"""

import copy
import re
from dataclasses import dataclass, field

from kdumplib import schema

# The capture kernel's extra arguments on RedHat: in /etc/sysconfig/kdump, not kdump.conf.
CMDLINE_APPEND = "KDUMP_COMMANDLINE_APPEND"
_KERNEL_RELEASE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$")


def _words(value, key, check, what):
    """A list (or a blank-separated string) of words, each passing ``check``."""
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        schema._fail(key, f"expected a non-empty list of {what}, got {value!r}")
    for item in value:
        check(item, key)
    return " ".join(value)


def hosts(value, key):
    """fence_kdump_nodes: host names or IP addresses."""
    return _words(value, key, schema.check_host, "host names")


def paths(value, key):
    """extra_bins: absolute paths."""
    return _words(value, key, schema.check_path, "absolute paths")


def modules(value, key):
    """blacklist: kernel module names."""
    if isinstance(value, str):
        value = value.split()
    names = schema._module_names(value, key)
    if not names:
        schema._fail(key, "expected a non-empty list of module names")
    return " ".join(names)


def args(value, key):
    """An argument string: shlex-split into plain tokens (``schema.check_args``)."""
    if not isinstance(value, str):
        schema._fail(key, f"expected an argument string, got {type(value).__name__} {value!r}")
    text = schema.check_args(value, key)
    if not text:
        schema._fail(key, "must not be empty (null removes it)")
    return text


def integer(low, high=None):
    """An int in ``low``..``high`` (seconds, counts)."""

    def check(value, key):
        if isinstance(value, bool) or not isinstance(value, int):
            schema._fail(key, f"expected an integer, got {value!r}")
        if value < low:
            schema._fail(key, f"{value} is below {low}")
        if high is not None and value > high:
            schema._fail(key, f"{value} is out of range {low}-{high}")
        return str(value)

    return check


def flag(value, key):
    """0 or 1 (true/false accepted)."""
    if isinstance(value, bool) or isinstance(value, int) and value in (0, 1):
        return str(int(value))
    schema._fail(key, f"expected 0 or 1, got {value!r}")


def choice(*choices):
    def check(value, key):
        return schema._choice(value, choices, key)

    return check


def path(value, key):
    return schema.check_path(value, key)


def kernel_release(value, key):
    if not isinstance(value, str) or not _KERNEL_RELEASE.match(value):
        schema._fail(key, f"{value!r} is not a kernel release (letters, digits and _ . + -)")
    return value


@dataclass(frozen=True)
class Section:
    """One file's passthrough keys: ``keys`` (name → grammar), ``managed`` (name → the
    neutral setting that writes it), ``refused`` (name → why not)."""

    family: str
    file: str  # "config": the family's config_file; else the fact naming the file
    keys: dict
    managed: dict = field(default_factory=dict)
    refused: dict = field(default_factory=dict)


_RHEL_TARGETS = {name: "kdump:settings:target" for name in ("raw", "nfs", "ssh", *schema.TARGET_FSTYPES)}

SECTIONS = {
    "kdump_conf": Section(
        family="RedHat",
        file="config",
        keys={
            "fence_kdump_nodes": hosts,
            "fence_kdump_args": args,
            "link_delay": integer(0, 3600),
            "extra_bins": paths,
            "blacklist": modules,
            "force_rebuild": flag,
            "force_no_rebuild": flag,
            "final_action": choice("reboot", "halt", "poweroff"),
        },
        managed={
            **_RHEL_TARGETS,
            "sshkey": "kdump:settings:target:sshkey",
            "path": "kdump:settings:target:path",
            "core_collector": "kdump:settings:collector",
            "failure_action": "kdump:settings:failure_action",
            "default": "kdump:settings:failure_action",
            "dracut_args": "kdump:settings:initrd:extra_args",
            "extra_modules": "kdump:settings:initrd:extra_modules",
            "kdump_pre": "kdump:settings:hooks:pre",
            "kdump_post": "kdump:settings:hooks:post",
        },
    ),
    "sysconfig": Section(
        family="RedHat",
        file="sysconfig_file",
        keys={
            "KEXEC_ARGS": args,
            "KDUMP_COMMANDLINE_REMOVE": args,
            "KDUMP_KERNELVER": kernel_release,
        },
        managed={CMDLINE_APPEND: "kdump:settings:capture_cmdline_append"},
    ),
    "kdump_tools": Section(
        family="Debian",
        file="config",
        keys={
            "KDUMP_KERNEL": path,
            "KDUMP_INITRD": path,
            "KDUMP_DUMP_DMESG": flag,
            "KDUMP_NUM_DUMPS": integer(0),
            "KDUMP_COMPRESSION": choice("bzip2", "gzip", "lz4", "xz"),
            "KDUMP_KEXEC_ARGS": args,
            "KDUMP_CMDLINE": args,
            "HOSTTAG": choice("hostname", "ip"),
            "NFS_TIMEO": integer(1, 6000),
            "NFS_RETRANS": integer(0, 100),
            "NFS_MOUNT_RETRY": integer(0, 1000),
            "SSH_KDUMP_RETRY": integer(0, 1000),
        },
        managed={
            "USE_KDUMP": "kdump:enabled",
            "KDUMP_COREDIR": "kdump:settings:target:path",
            "MAKEDUMP_ARGS": "kdump:settings:collector",
            "KDUMP_FAIL_CMD": "kdump:settings:failure_action",
            "NFS": "kdump:settings:target:host",
            "SSH": "kdump:settings:target:host",
            "SSH_KEY": "kdump:settings:target:sshkey",
            "KDUMP_CMDLINE_APPEND": "kdump:settings:capture_cmdline_append",
        },
        refused={
            name: "an FTP dump target, which kdump:settings:target does not model"
            for name in ("FTP", "FTP_USER", "FTP_PASSWORD", "FTP_PORT")
        },
    ),
}

#: No passthrough: every file left as it is (the same as ``schema.DEFAULT_PILLAR``'s).
DEFAULT_PASSTHROUGH = {name: {} for name in SECTIONS}


def _section(name, data, key, report):
    section = SECTIONS[name]
    data = report.check(schema._mapping, data, key, fallback={})
    checked = {}
    for var, value in data.items():
        var_key = f"{key}:{var}"
        if var in section.managed:
            report.add(var_key, f"is managed by {section.managed[var]}; set it there, not in {key}")
        elif var in section.refused:
            report.add(var_key, f"not passed through: {section.refused[var]}")
        elif var not in section.keys:
            report.add(var_key, f"unknown key (known keys: {', '.join(sorted(section.keys))})")
        elif value is None:
            checked[var] = None
        else:
            text = report.check(section.keys[var], value, var_key)
            if not report.has(var_key):
                checked[var] = text
    if checked.get("force_rebuild") == "1" and checked.get("force_no_rebuild") == "1":
        report.add(f"{key}:force_no_rebuild", f"kdumpctl refuses force_rebuild 1 together with force_no_rebuild 1 ({key}:force_rebuild)")
    return checked


def check(data, key, report):
    """``kdump:passthrough`` normalized to ``{section: {name: text or None}}`` as far as it is
    valid; every error goes to ``report``, one line each naming ``<key>:<section>:<name>``."""
    data = report.check(schema._mapping, data, key, fallback={})
    normalized = copy.deepcopy(DEFAULT_PASSTHROUGH)
    for name, value in data.items():
        if name not in SECTIONS:
            report.add(f"{key}:{name}", f"unknown section (known: {', '.join(SECTIONS)})")
            continue
        normalized[name] = _section(name, value, f"{key}:{name}", report)
    return normalized


def validate(data, key="kdump:passthrough"):
    """``check`` raising ValueError with every error, one line each."""
    report = schema.Report()
    normalized = check(data, key, report)
    report.raise_if_any()
    return normalized


def check_family(os_family, passthrough, key="kdump:passthrough"):
    """ValueError naming every non-empty section that is not this family's."""
    errors = [
        f"{key}:{name}: applies to {SECTIONS[name].family} only, this minion is {os_family}"
        for name, entries in passthrough.items()
        if entries and SECTIONS[name].family != os_family
    ]
    if errors:
        raise ValueError("\n".join(errors))


def for_file(os_family, file, passthrough):
    """``{name: text or None}`` of this family's sections written into ``file`` ("config"
    or the fact name of another file)."""
    entries = {}
    for name, section in SECTIONS.items():
        if section.family == os_family and section.file == file:
            entries.update(passthrough.get(name) or {})
    return entries


def cmdline_append(original, append):
    """RedHat's ``KDUMP_COMMANDLINE_APPEND``: the distribution's own value (``original``: in
    the file as the package shipped it, None when it had none) followed by the user's
    ``capture_cmdline_append`` words not already in it. None: no such line."""
    base = (original or "").split()
    extra = [word for word in (append or "").split() if word not in base]
    words = base + extra
    if original is None and not extra:
        return None
    return " ".join(words)
