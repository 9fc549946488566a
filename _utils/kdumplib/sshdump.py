"""Dumps over ssh: which key each kdump can use, how the dump host trusts it, how it is pinned.

What the distributions' kdump tools do with ssh (read in their sources):

* Debian kdump-tools (``kdump-config``, 1.8 and 1.10): the capture kernel boots the real root
  file system and ``kdump_save_core_to_ssh`` runs the system's OpenSSH: ``ssh -i KEY HOST
  mkdir -p DIR``, ``makedumpfile ... | ssh -i KEY HOST dd of=FILE``, ``scp -i KEY`` (the dmesg,
  and the whole vmcore when makedumpfile fails), then ``ssh -i KEY HOST mv``. No ``-o``
  options: root's ``~/.ssh/known_hosts`` decides, and with no tty an unknown host key fails.
  ``kdump-config propagate`` makes an RSA key (``ssh-keygen -t rsa``) at ``SSH_KEY`` (default
  ``/root/.ssh/kdump_id_rsa``) and runs ``ssh-copy-id`` (a password prompt).
* RHEL ``kdumpctl`` (kexec-tools): ``sshkey`` (default ``/root/.ssh/kdump_id_rsa``) and root's
  known_hosts go into the capture initrd; the dump runs ``mkdir -p``, ``dd of=`` (or ``scp``)
  and ``mv`` in BatchMode with strict host key checking. ``kdumpctl propagate`` = make an RSA
  key when missing + ``ssh-copy-id``.
* SUSE kdump: ``KDUMP_SSH_IDENTITY`` (empty: root's ``id_*`` keys) and ``KDUMP_HOST_KEY``
  (empty: from root's known_hosts) go into the kdump initrd.

The formula maps ``propagate`` onto Salt: the key is made on the minion (``kdump_ssh.key``),
its public half travels through the Salt mine (no password), the dump host's minion writes it
with ``ssh_auth``, the dump host's key is pinned with ``ssh_known_hosts``.

Pure code: no Salt, no I/O.
"""

import base64
import re
import struct

#: Key types the formula can make, strongest first.
KEY_TYPES = ("ed25519", "rsa")
#: ``ssh-keygen`` arguments per type (RSA: 4096 bits, above ssh-keygen's 3072 default).
KEYGEN_ARGS = {"ed25519": ["-t", "ed25519"], "rsa": ["-t", "rsa", "-b", "4096"]}
#: The OpenSSH algorithm name of each type (what a public key line starts with).
KEY_ENC = {"ed25519": "ssh-ed25519", "rsa": "ssh-rsa"}
#: The key file each family's kdump reads when ``sshkey`` is not set; Suse reads root's own
#: identities then, which the formula does not create: ``sshkey`` is required there.
DEFAULT_KEY = {"RedHat": "/root/.ssh/kdump_id_rsa", "Debian": "/root/.ssh/kdump_id_rsa", "Suse": None}
#: The first major release whose kdump ssh client takes ed25519 keys (OpenSSH >= 6.5):
#: Debian 8 (the dump runs the system's ssh), RHEL 7 (OpenSSH 6.6 in the capture initrd),
#: SLE 12 (OpenSSH 6.6). Before those: RSA.
ED25519_SINCE = {"Debian": 8, "RedHat": 7, "Suse": 12}
#: Host key preference when pinning the dump host from its published keys.
HOST_KEY_PREFERENCE = ("ed25519", "ecdsa", "rsa")
#: Public key algorithms a known_hosts / authorized_keys line may carry.
_PUBLIC_ALGOS = (
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
)
_B64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
#: One ``from=`` pattern of sshd(8): a host name or address pattern, ``!`` negation, CIDR.
_FROM_PATTERN = re.compile(r"^!?[A-Za-z0-9.:*?/_-]+$")


def key_type(family, osmajorrelease, fips=False, wanted="auto", key="kdump:ssh:key_type"):
    """``(type, reason)``: the key type to make for this family and release.

    ``auto``: ed25519 where the family's kdump ssh client takes it and FIPS mode is off
    (OpenSSH in FIPS mode refuses ed25519), else RSA. An explicit ``ed25519`` the host cannot
    use is a ValueError naming ``key``.
    """
    since = ED25519_SINCE.get(family)
    if since is None:
        raise ValueError(f"{key}: os family {family!r} has no known kdump ssh client")
    try:
        release = int(osmajorrelease)
    except (TypeError, ValueError):
        release = None
    if release is not None and release < since:
        blocker = f"{family} {release} predates ed25519 in its kdump ssh client ({family} {since}+)"
    elif fips:
        blocker = "FIPS mode is on and OpenSSH refuses ed25519 keys in FIPS mode"
    else:
        blocker = None
    if wanted == "rsa":
        return "rsa", "kdump:ssh:key_type is rsa"
    if wanted == "ed25519":
        if blocker:
            raise ValueError(f"{key}: ed25519 cannot be used here: {blocker}")
        return "ed25519", "kdump:ssh:key_type is ed25519"
    if wanted != "auto":
        raise ValueError(f"{key}: {wanted!r} is not one of auto, {', '.join(KEY_TYPES)}")
    if blocker:
        return "rsa", blocker
    return "ed25519", f"{family}'s kdump ssh client takes ed25519"


def parse_public_key(line, key="public key"):
    """``{"enc", "key", "comment"}`` of one OpenSSH public key line (``ssh-ed25519 AAAA... c``).

    The base64 blob must decode and name the same algorithm as the line: a truncated or
    pasted-wrong key is a ValueError naming ``key``, never an entry that cannot match.
    """
    if not isinstance(line, str) or not line.strip():
        raise ValueError(f"{key}: expected an OpenSSH public key line, got {line!r}")
    parts = line.strip().split(None, 2)
    if len(parts) < 2 or parts[0] not in _PUBLIC_ALGOS:
        raise ValueError(f"{key}: {line.strip()[:40]!r} is not an OpenSSH public key "
                         f"(one of {', '.join(_PUBLIC_ALGOS)} then base64)")
    enc, blob = parts[0], parts[1]
    try:
        raw = base64.b64decode(blob, validate=True) if _B64.match(blob) else None
    except ValueError:
        raw = None
    if not raw or len(raw) < 4:
        raise ValueError(f"{key}: the {enc} key is not valid base64")
    (length,) = struct.unpack(">I", raw[:4])
    if raw[4:4 + length].decode("ascii", "replace") != enc:
        raise ValueError(f"{key}: the base64 blob is not an {enc} key")
    comment = parts[2].strip() if len(parts) > 2 else ""
    return {"enc": enc, "key": blob, "comment": comment}


def pick_host_key(host_keys, key="kdump:ssh:host_minion"):
    """``{"enc", "key", "comment"}``: the strongest public key of ``ssh.host_keys`` output
    (``{"ed25519.pub": "ssh-ed25519 ...", ...}``) as the dump host publishes it in the mine."""
    if not isinstance(host_keys, dict) or not host_keys:
        raise ValueError(f"{key}: the dump host published no host keys (mine function kdump_ssh_hostkeys)")
    for name in HOST_KEY_PREFERENCE:
        line = host_keys.get(f"{name}.pub")
        if line:
            return parse_public_key(line, f"{key}: host key {name}.pub")
    raise ValueError(f"{key}: none of the published host keys is one of "
                     f"{', '.join(n + '.pub' for n in HOST_KEY_PREFERENCE)}: {sorted(host_keys)}")


def known_hosts_name(host, port=22):
    """The name ``ssh`` and ``ssh-keygen -F`` look up: ``host``, or ``[host]:port`` off port 22."""
    return host if int(port) == 22 else f"[{host}]:{int(port)}"


def check_from(patterns, key="kdump:ssh:authorize:from"):
    """The ``from=`` patterns as a list of plain sshd patterns (``10.0.0.0/8``, ``*.example``)."""
    if patterns is None:
        return []
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list):
        raise ValueError(f"{key}: expected a list of host or address patterns, got {patterns!r}")
    for pattern in patterns:
        if not isinstance(pattern, str) or not _FROM_PATTERN.match(pattern):
            raise ValueError(f"{key}: {pattern!r} is not a host or address pattern "
                             "(letters, digits and . : * ? / _ -, optional leading !)")
    return list(patterns)


def authorized_options(from_patterns=()):
    """The authorized_keys options for a dump key, as Salt's ``ssh_auth`` compares them.

    ``restrict`` turns off port, agent and X11 forwarding, the pty and ~/.ssh/rc: the dump
    needs none of them. No forced ``command=``: kdump runs ``mkdir -p``, ``dd of=``, ``scp``
    (SFTP with OpenSSH 9) and ``mv`` with arguments it builds at dump time, which one fixed
    command cannot serve. ``from=`` limits where the key is accepted from.

    Salt's ssh module reads options back by splitting the line at every comma (also inside
    ``from="a,b"``), so the list is given split the same way: the line written is the same
    and a second run compares equal instead of rewriting the entry.
    """
    options = ["restrict"]
    if from_patterns:
        options.extend(f'from="{",".join(from_patterns)}"'.split(","))
    return options


#: The comment ssh_server.sls gives each key it authorizes: ``kdump@<minion id>``.
AUTHORIZED_COMMENT = "kdump@"


def authorized_comment(minion):
    return AUTHORIZED_COMMENT + minion


def stale_keys(authorized, current, keep=()):
    """The authorized keys this formula added that no fleet minion publishes any more.

    ``authorized``: Salt's ``ssh.auth_keys`` of the dump user (``{key: {"enc", "comment",
    ...}}``); ``current``: the plan's ``[{"minion", "enc", "key"}]``. A key whose comment is
    ``kdump@<minion>`` is stale when that minion has another key now, or is not in the fleet
    any more; minions in ``keep`` (they published nothing usable this time: down, or a bad
    key) keep theirs until they publish again. Keys with any other comment are not ours.

    :return: ``[{"minion", "enc", "key", "comment"}]`` sorted by minion, then key.
    """
    now = {entry["minion"]: entry["key"] for entry in current}
    stale = []
    for key, info in authorized.items():
        comment = (info or {}).get("comment") or ""
        if not comment.startswith(AUTHORIZED_COMMENT):
            continue
        minion = comment[len(AUTHORIZED_COMMENT):]
        if minion in keep or now.get(minion) == key:
            continue
        stale.append({"minion": minion, "enc": (info or {}).get("enc"), "key": key, "comment": comment})
    return sorted(stale, key=lambda entry: (entry["minion"], entry["key"]))
