"""What each supported OS family calls its kdump pieces: the one owner of these facts.

One row per ``os_family`` grain: the packages to install, the service, the configuration file
and its format, how to rebuild and reload the capture kernel, where dumps land, and two
behaviours of the service the formula orders its states around. The execution modules read
this table (through ``facts``, with the ``kdump:lookup`` overrides applied); the formula's
map.jinja reads the same through ``kdump.facts``. Nothing else repeats these values.

Pure code: no Salt, no I/O.
"""

import copy

#: The facts a ``kdump:lookup`` pillar entry may override; ``facts`` applies them, so the
#: modules and the formula act on the same file and service.
OVERRIDABLE = (
    "pkgs", "lvm_pkgs", "service", "config_file", "service_starts_unreserved",
    "service_sets_panic_on_oops",
)

OS_FAMILIES = {
    # RHEL, CentOS, Rocky, Alma, Fedora: kexec-tools ships kdumpctl.
    "RedHat": {
        "pkgs": ["kexec-tools"],
        # Installed with pkgs when kdump:volume is set (Salt's lvm module needs the LVM tools).
        "lvm_pkgs": ["lvm2"],
        "service": "kdump",
        "config_file": "/etc/kdump.conf",
        "format": "kdump.conf",
        # kdumpctl reads it (shell) when it loads the crash kernel: KDUMP_COMMANDLINE_APPEND
        # (capture_cmdline_append) and KEXEC_ARGS go on the kexec command line, not into the
        # initrd, so "kdumpctl restart" applies a change (kdumplib.passthrough).
        "sysconfig_file": "/etc/sysconfig/kdump",
        # kdumpctl rebuild rebuilds the kdump initramfs whatever the file times say (the seed's
        # bug: a changed kdump.conf with an old initrd until someone touched the file).
        "rebuild": [["kdumpctl", "rebuild"], ["kdumpctl", "restart"]],
        "dump_layout": "<path>/<host-or-ip>-<YYYY-MM-DD-HH:MM:SS>/vmcore",
        "default_collector": "makedumpfile -l --message-level 1 -d 31",
        # A device target is mounted by kdumpctl at dump time, and <path> is inside it.
        "mounts_dump_device": True,
        # kdumpctl start fails ("No memory reserved for crash kernel") until the reboot that
        # gives the reservation: enabled now, started only once memory is reserved.
        "service_starts_unreserved": False,
        # kdumpctl leaves kernel.panic_on_oops alone.
        "service_sets_panic_on_oops": False,
        # What the capture kernel boots ({release}: a kernel release), for crashkernel's
        # measured sizing: kdumpctl builds <release>kdump.img beside the kernel (or under
        # /var/lib/kdump when /boot is read-only); no record of the unpacked size.
        "capture_kernel": ["/boot/vmlinuz-{release}"],
        "capture_initrd": ["/boot/initramfs-{release}kdump.img", "/var/lib/kdump/initramfs-{release}kdump.img"],
        "capture_unpacked_record": None,
    },
    # Debian and Ubuntu: kdump-tools drives kexec-tools and makedumpfile.
    "Debian": {
        "pkgs": ["kdump-tools", "kexec-tools", "makedumpfile"],
        "lvm_pkgs": ["lvm2"],
        "service": "kdump-tools",
        "config_file": "/etc/default/kdump-tools",
        "format": "shell",
        # everything is in config_file
        "sysconfig_file": None,
        # The capture kernel boots with systemd.unit=kdump-tools-dump.service and reads this
        # file from the real root at dump time; unload + load re-reads it and reloads the
        # capture kernel with the new command line.
        "rebuild": [["kdump-config", "unload"], ["kdump-config", "load"]],
        "dump_layout": "<path>/<YYYYmmddHHMM>/dump.<YYYYmmddHHMM>",
        "default_collector": "-c -d 31",
        # kdump-tools writes into KDUMP_COREDIR of the running system and mounts nothing: a
        # device target works only as the volume mounted there at boot.
        "mounts_dump_device": False,
        # kdump-tools.service runs /etc/init.d/kdump-tools start, which exits 0 even when
        # "kdump-config load" refuses for want of crashkernel= (kdump-tools 1:1.8.1 and
        # 1:1.10.7): the service can be started before the reboot.
        "service_starts_unreserved": True,
        # kdump-config load runs "sysctl -w kernel.panic_on_oops=1" every time it loads the
        # crash kernel (apply_panic_triggers, unconditional): the formula applies its sysctl
        # file again after every service start so its values win (sysctl.sls).
        "service_sets_panic_on_oops": True,
        # kdump-tools links vmlinuz-<v> and builds initrd.img-<v> in /var/lib/kdump, and its
        # kernel postinst hook records the unpacked size there (du -sm, MiB; 1.10.x).
        "capture_kernel": ["/var/lib/kdump/vmlinuz-{release}", "/boot/vmlinuz-{release}"],
        "capture_initrd": ["/var/lib/kdump/initrd.img-{release}"],
        "capture_unpacked_record": "/var/lib/kdump/size_initrd.img-{release}",
    },
    # SLES and openSUSE. The kdump package requires kexec-tools and makedumpfile; they are
    # listed so the install names every tool the dump needs, as on Debian.
    "Suse": {
        "pkgs": ["kdump", "kexec-tools", "makedumpfile"],
        "lvm_pkgs": ["lvm2"],
        "service": "kdump",
        "config_file": "/etc/sysconfig/kdump",
        "format": "shell",
        "sysconfig_file": None,
        # "{service}" is the service of the row after kdump:lookup (see ``facts``).
        "rebuild": [["systemctl", "restart", "{service}"]],
        "dump_layout": "<path>/<YYYY-MM-DD-HH:MM>/vmcore",
        "default_collector": None,
        # KDUMP_SAVEDIR=file://<path> on the running system's filesystems, as on Debian.
        "mounts_dump_device": False,
        # /usr/lib/kdump/load.sh exits 1 ("No crashkernel memory reserved, Kdump cannot
        # start.") until the reboot that gives the reservation.
        "service_starts_unreserved": False,
        # load.sh writes 1 to /proc/sys/kernel/panic_on_oops after loading (see Debian).
        "service_sets_panic_on_oops": True,
        # mkdumprd writes initrd-<release>-kdump beside the kernel.
        "capture_kernel": ["/boot/vmlinuz-{release}"],
        "capture_initrd": ["/boot/initrd-{release}-kdump"],
        "capture_unpacked_record": None,
    },
}


def family(os_family):
    """The OS_FAMILIES row for an ``os_family`` grain; ValueError for a family we do not know."""
    try:
        return OS_FAMILIES[os_family]
    except KeyError:
        raise ValueError(
            f"os_family: {os_family!r} is not supported (supported: {', '.join(OS_FAMILIES)})"
        ) from None


def facts(os_family, lookup=None):
    """A copy of the family's row with the ``kdump:lookup`` overrides applied.

    ``lookup`` is already checked (``schema.validate_lookup``); keys that are not facts of
    the modules (the formula's own ``sysctl_file`` ...) are left to the formula. Rebuild
    commands naming ``{service}`` get the overridden service.
    """
    row = copy.deepcopy(family(os_family))
    for name, value in (lookup or {}).items():
        if name in OVERRIDABLE:
            row[name] = copy.deepcopy(value)
    row["rebuild"] = [[word.replace("{service}", row["service"]) for word in cmd] for cmd in row["rebuild"]]
    return row
