"""Execution module for dumps over ssh: the minion's dump key, the pinned dump host, the checks.

Salt's own ``ssh_auth`` (dump host) and ``ssh_known_hosts`` (minion) states write the
authorized_keys and known_hosts entries; this module does what they cannot: make the dump key
once (never rotate or overwrite it), publish its public half for the mine, pick the dump
host's key from the mine or the pillar, and tell ``kdump.status`` what would stop a dump.
Pure decisions are ``kdumplib.sshdump``; paths resolve under the minion option ``kdump_root``.
"""

import os
import shutil
import stat
import tempfile

import salt.utils.path
import salt.version
from salt.exceptions import CommandExecutionError, SaltInvocationError

from kdumplib import freshness

freshness.fresh()  # a minion running since before a saltutil.sync: the synced kdumplib
from kdumplib import files, schema, sshdump

__virtualname__ = "kdump_ssh"

PILLAR_UNMASK = {"unmask": True} if salt.version.__saltstack_version__.major >= 3008 else {}
FIPS = "/proc/sys/crypto/fips_enabled"
#: The codes this module adds to ``kdump.status`` (docs/modules/kdump_ssh.md).
PROBLEM_CODES = ("ssh_client_missing", "ssh_key_missing", "ssh_key_invalid", "ssh_host_unknown")
#: Only ``check`` (it connects): the dump host refused the key, or could not be reached.
CHECK_CODES = ("ssh_unauthorized", "ssh_unreachable")


def __virtual__():
    return __virtualname__


def _root():
    return files.root_of(__opts__)


def _invalid(exc):
    return SaltInvocationError(str(exc))


def _ssh_pillar():
    """``kdump:ssh`` checked, defaults filled; SaltInvocationError naming each bad key."""
    data = __salt__["pillar.get"]("kdump:ssh", None, **PILLAR_UNMASK) if "pillar.get" in __salt__ else None
    pillar, report = schema.check_pillar({"ssh": data})
    lines = [line for line in report.errors if line.startswith("kdump:ssh")]
    if lines:
        raise SaltInvocationError("\n".join(lines))
    return pillar["ssh"]


def _pillar_target():
    data = __salt__["pillar.get"]("kdump:settings", {}, **PILLAR_UNMASK) if "pillar.get" in __salt__ else {}
    try:
        return schema.validate_settings(data)["target"]
    except ValueError as exc:
        raise _invalid(exc) from None


def _key_path(target):
    """The key the family's kdump reads: ``sshkey``, else the family's default file."""
    if target.get("sshkey"):
        return target["sshkey"]
    return sshdump.DEFAULT_KEY.get(__grains__.get("os_family"))


def _fips():
    text = files.read_text(_root(), FIPS)
    return bool(text and text.strip() == "1")


def _keygen(argv):
    return __salt__["cmd.run_all"](["ssh-keygen"] + argv, python_shell=False, ignore_retcode=True)


def _public_of(real):
    """The public key line of the private key file ``real``; None when it is not a usable
    (readable, unencrypted) private key, with ssh-keygen's reason."""
    if stat.S_IMODE(os.stat(real).st_mode) & 0o077:
        # ssh-keygen ignores a key others can read: judge a private 0600 copy instead.
        tmp = tempfile.mkdtemp(prefix=".kdump-key-check.")
        try:
            copy = os.path.join(tmp, "key")
            shutil.copyfile(real, copy)
            os.chmod(copy, 0o600)
            return _public_of(copy)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    result = _keygen(["-y", "-P", "", "-f", real])
    if result.get("retcode"):
        return None, (result.get("stderr") or result.get("stdout") or "").strip()
    return result["stdout"].strip(), None


def _key_type(wanted):
    try:
        kind, reason = sshdump.key_type(__grains__.get("os_family"), __grains__.get("osmajorrelease"),
                                        _fips(), wanted or _ssh_pillar()["key_type"])
    except ValueError as exc:
        raise _invalid(exc) from None
    return {"type": kind, "reason": reason}


def key_type(wanted=None):
    """
    The key type this minion's kdump can use, and why (``kdumplib.sshdump.key_type``).

    :param wanted: ``auto`` | ``ed25519`` | ``rsa`` (default: pillar ``kdump:ssh:key_type``).
    :return: ``{"type": str, "reason": str}``

    CLI Example:

    .. code-block:: bash

        salt '*' kdump_ssh.key_type
    """
    return _key_type(wanted)


def key(path=None, key_type=None, test=False):  # pylint: disable=redefined-outer-name
    """
    Make the dump key when it is missing; check it when it exists. Never rotates or overwrites.

    A new key is made by ``ssh-keygen`` in a temporary directory beside it and linked into
    place (``link`` refuses an existing name), mode 0600, owner root, no passphrase (the
    capture kernel cannot type one), comment ``kdump@<minion id>``. An existing file that is
    not a usable private key is an error naming it, left as it is. A wrong mode or owner is
    set right; a missing or stale ``.pub`` is written again from the private key.

    :param path: the private key (default: ``kdump:settings:target:sshkey``, else the family's
        default ``/root/.ssh/kdump_id_rsa``).
    :param key_type: ``auto`` | ``ed25519`` | ``rsa`` (default ``kdump:ssh:key_type``).
    :param test: predict only.
    :return: ``{"path", "changed": bool, "created": bool, "fixed": [str], "type": str|None,
        "public": str|None}`` (``public`` None when a key is only predicted)

    CLI Example:

    .. code-block:: bash

        salt '*' kdump_ssh.key
        salt '*' kdump_ssh.key path=/root/.ssh/kdump_id_ed25519 test=True
    """
    path = path or _key_path(_pillar_target())
    if not path:
        raise SaltInvocationError(
            "kdump:settings:target:sshkey: required on Suse (its kdump otherwise uses root's own identities)"
        )
    try:
        schema.check_path(path, "path")
    except ValueError as exc:
        raise _invalid(exc) from None
    if not salt.utils.path.which("ssh-keygen"):
        raise CommandExecutionError("ssh-keygen is not installed (package openssh-client / openssh)")
    real = files.rooted(_root(), path)
    ret = {"path": path, "changed": False, "created": False, "fixed": [], "type": None, "public": None}
    if os.path.lexists(real):
        if not os.path.isfile(real) or os.path.islink(real):
            raise CommandExecutionError(f"{path}: exists and is not a regular file: not a dump key (left as it is)")
        public, why = _public_of(real)
        if public is None:
            raise CommandExecutionError(
                f"{path}: exists but is not a usable private key ({why or 'ssh-keygen cannot read it'}; "
                "encrypted keys cannot be used by the capture kernel); it is left as it is: "
                "move it away or set kdump:settings:target:sshkey to another path"
            )
        ret["public"] = public
        ret["type"] = sshdump.parse_public_key(public, path)["enc"]
        info = os.lstat(real)
        if stat.S_IMODE(info.st_mode) != 0o600:
            ret["fixed"].append(f"mode {stat.S_IMODE(info.st_mode):04o} -> 0600")
        if info.st_uid != 0 or info.st_gid != 0:
            ret["fixed"].append(f"owner {info.st_uid}:{info.st_gid} -> 0:0")
        pub_text = files.read_text(_root(), path + ".pub")
        if pub_text is None or pub_text.split()[:2] != public.split()[:2]:
            ret["fixed"].append(f"{path}.pub written from the private key")
        ret["changed"] = bool(ret["fixed"])
        if test or not ret["changed"]:
            return ret
        os.chmod(real, 0o600)
        os.chown(real, 0, 0)
        if pub_text is None or pub_text.split()[:2] != public.split()[:2]:
            comment = pub_text.split(None, 2)[2].strip() if pub_text and len(pub_text.split()) > 2 else ""
            line = public.split()[0] + " " + public.split()[1] + (f" {comment}" if comment else "")
            files.write_text_atomic(_root(), path + ".pub", line + "\n", mode=0o644)
        return ret
    kind = _key_type(key_type)["type"]
    ret.update(changed=True, created=True, type=sshdump.KEY_ENC[kind])
    if test:
        return ret
    directory = os.path.dirname(real)
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700)
    tmp = tempfile.mkdtemp(prefix=".kdump-key.", dir=directory)
    try:
        made = os.path.join(tmp, "key")
        comment = f"kdump@{__grains__.get('id') or __opts__.get('id')}"
        result = _keygen(["-q"] + sshdump.KEYGEN_ARGS[kind] + ["-N", "", "-C", comment, "-f", made])
        if result.get("retcode"):
            raise CommandExecutionError(f"ssh-keygen failed for {path}: {(result.get('stderr') or '').strip()}")
        os.chmod(made, 0o600)
        os.chmod(made + ".pub", 0o644)
        try:
            os.link(made, real)  # never replaces a key that appeared meanwhile
        except FileExistsError:
            raise CommandExecutionError(f"{path}: appeared while the key was made: left as it is") from None
        os.replace(made + ".pub", real + ".pub")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ret["public"], _ = _public_of(real)
    ret["type"] = sshdump.parse_public_key(ret["public"], path)["enc"]
    return ret


def pubkey(path=None):
    """
    The dump key's public line for the Salt mine (``mine_functions: kdump_ssh_pubkey``), or
    None when there is no usable key. Makes nothing.

    CLI Example:

    .. code-block:: bash

        salt '*' kdump_ssh.pubkey
    """
    path = path or _key_path(_pillar_target())
    if not path:
        return None
    real = files.rooted(_root(), path)
    if not os.path.isfile(real):
        return None
    public, _ = _public_of(real)
    return public


def parse_public_key(line):
    """
    ``{"enc", "key", "comment"}`` of an OpenSSH public key line; SaltInvocationError if bad.
    For salt/kdump/ssh_server.sls, which hands each fleet key to ``ssh_auth``.

    CLI Example:

    .. code-block:: bash

        salt dumphost kdump_ssh.parse_public_key 'ssh-ed25519 AAAAC3... kdump@web1'
    """
    try:
        return sshdump.parse_public_key(line)
    except ValueError as exc:
        raise _invalid(exc) from None


def authorized_options(from_patterns=None):
    """
    The authorized_keys options of a dump key (``kdumplib.sshdump.authorized_options``):
    ``restrict`` and, with patterns, ``from="..."``.

    CLI Example:

    .. code-block:: bash

        salt dumphost kdump_ssh.authorized_options '["10.0.0.0/8"]'
    """
    try:
        return sshdump.authorized_options(sshdump.check_from(from_patterns))
    except ValueError as exc:
        raise _invalid(exc) from None


def key_path():
    """
    The dump key's path for this minion: ``kdump:settings:target:sshkey``, else the file the
    family's kdump reads by default (None on Suse, where ``sshkey`` is required).

    CLI Example:

    .. code-block:: bash

        salt '*' kdump_ssh.key_path
    """
    return _key_path(_pillar_target())


def server_plan():
    """
    What salt/kdump/ssh_server.sls authorizes on the dump host, from ``kdump:ssh:authorize``
    and the fleet's ``kdump_ssh_pubkey`` mine entries. Never raises: the SLS renders and
    ``kdump.validated`` names a bad key.

    Keys this formula authorized earlier (comment ``kdump@<minion>``) that are no longer a
    fleet minion's current key are ``stale``: the minion left the fleet (its key deleted on
    the master, so its mine data is gone, or it no longer matches ``tgt``) or its key is not
    the one it publishes now. ssh_server.sls removes them; other lines of the file are never
    touched.

    :return: ``{"error": str|None, "user", "config", "path", "options": [str],
        "keys": [{"minion", "enc", "key", "comment"}], "invalid": [{"minion", "reason"}],
        "missing": [minion ids that published no key yet],
        "stale": [{"minion", "enc", "key", "comment"}]}``

    CLI Example:

    .. code-block:: bash

        salt dumphost kdump_ssh.server_plan
    """
    plan = {"error": None, "user": None, "config": None, "path": None, "options": [],
            "keys": [], "invalid": [], "missing": [], "stale": []}
    try:
        auth = _ssh_pillar()["authorize"]
    except SaltInvocationError as exc:
        plan["error"] = str(exc)
        return plan
    if not auth:
        plan["error"] = "kdump:ssh:authorize is not set: this minion is not a dump host"
        return plan
    plan.update(user=auth["user"], config=auth["config"], path=auth["path"],
                options=sshdump.authorized_options(auth["from"]))
    mined = __salt__["mine.get"](auth["tgt"], "kdump_ssh_pubkey", tgt_type=auth["tgt_type"]) or {}
    for minion in sorted(mined):
        line = mined[minion]
        if not line:
            plan["missing"].append(minion)
            continue
        try:
            parsed = sshdump.parse_public_key(line, f"mine kdump_ssh_pubkey of {minion}")
        except ValueError as exc:
            plan["invalid"].append({"minion": minion, "reason": str(exc)})
            continue
        plan["keys"].append({"minion": minion, "enc": parsed["enc"], "key": parsed["key"],
                             "comment": sshdump.authorized_comment(minion)})
    authorized = __salt__["ssh.auth_keys"](user=auth["user"], config=auth["config"]) or {}
    plan["stale"] = sshdump.stale_keys(authorized, plan["keys"], keep=plan["missing"] + [
        bad["minion"] for bad in plan["invalid"]])
    return plan


def pinned_host_key():
    """
    The dump host's public key to pin in known_hosts: ``kdump:ssh:host_key`` from the pillar,
    or the strongest key the minion ``kdump:ssh:host_minion`` publishes in the mine
    (``kdump_ssh_hostkeys``). Never fetched from the network unverified.

    :return: ``{"enc", "key", "source", "error"}``; ``error`` (a sentence naming the pillar
        key) instead of a key when there is none to pin.

    CLI Example:

    .. code-block:: bash

        salt '*' kdump_ssh.pinned_host_key
    """
    ret = {"enc": None, "key": None, "source": None, "error": None}
    try:
        ssh = _ssh_pillar()
    except SaltInvocationError as exc:
        ret["error"] = str(exc)
        return ret
    try:
        if ssh["host_key"]:
            parsed = sshdump.parse_public_key(ssh["host_key"], "kdump:ssh:host_key")
            source = "pillar kdump:ssh:host_key"
        elif ssh["host_minion"]:
            mined = __salt__["mine.get"](ssh["host_minion"], "kdump_ssh_hostkeys")
            if ssh["host_minion"] not in (mined or {}):
                raise ValueError(
                    f"kdump:ssh:host_minion: minion {ssh['host_minion']!r} has published no "
                    "kdump_ssh_hostkeys in the mine (give it the mine_functions of pillar.example, "
                    "then run mine.update on it)"
                )
            parsed = sshdump.pick_host_key(mined[ssh["host_minion"]])
            source = f"mine of {ssh['host_minion']}"
        else:
            raise ValueError("kdump:ssh: neither host_key nor host_minion is set: nothing to pin")
    except ValueError as exc:
        ret["error"] = str(exc)
        return ret
    ret.update(enc=parsed["enc"], key=parsed["key"], source=source)
    return ret


def problems(target=None):
    """
    What would stop a dump over ssh, checked locally and cheaply (no connection): the key is
    missing or unusable, or the dump host's key is not in known_hosts (``ssh-keygen -F``).

    :param target: the ``target`` of the neutral settings (default: the pillar's).
    :return: a list of ``{"code", "message"}`` (codes: ``PROBLEM_CODES``); empty for other
        target types and when all is well.

    CLI Example:

    .. code-block:: bash

        salt '*' kdump_ssh.problems
    """
    target = target or _pillar_target()
    if target.get("type") != "ssh":
        return []
    found = []
    if not salt.utils.path.which("ssh-keygen"):
        return [{"code": "ssh_client_missing", "message": "ssh-keygen is not installed: the ssh client is missing"}]
    ssh = _ssh_pillar()
    path = _key_path(target)
    if not path:
        found.append({"code": "ssh_key_missing",
                      "message": "no sshkey is configured (kdump:settings:target:sshkey): nothing to check"})
    else:
        real = files.rooted(_root(), path)
        if not os.path.isfile(real):
            found.append({"code": "ssh_key_missing",
                          "message": f"the dump key {path} does not exist: the next formula run makes it "
                                     "(kdump_ssh.key), then the dump host must authorize it"})
        elif _public_of(real)[0] is None:
            found.append({"code": "ssh_key_invalid",
                          "message": f"the dump key {path} is not a usable private key (unreadable, encrypted or not a key)"})
        elif stat.S_IMODE(os.stat(real).st_mode) & 0o077:
            found.append({"code": "ssh_key_invalid",
                          "message": f"the dump key {path} is readable by others: ssh ignores it (the next "
                                     "formula run sets mode 0600)"})
    name = sshdump.known_hosts_name(target["host"], ssh["port"])
    known = files.rooted(_root(), ssh["known_hosts"])
    found_host = os.path.isfile(known) and not _keygen(["-F", name, "-f", known]).get("retcode")
    if not found_host:
        found.append({"code": "ssh_host_unknown",
                      "message": f"the dump host {name} is not in {ssh['known_hosts']}: kdump's ssh would "
                                 "refuse it (pin it with kdump:ssh:host_minion or host_key)"})
    return found


def check(timeout=10):
    """
    Connect to the dump host as kdump would and run ``true``: BatchMode (no prompt), the dump
    key only, strict host key checking against the configured known_hosts. Read-only there.
    Not part of ``kdump.status`` (it connects); the local problems are reported first.

    :param timeout: seconds for the connection.
    :return: ``{"ok": bool, "code": str|None, "message": str, "command": [argv]}``; codes are
        ``PROBLEM_CODES`` and ``ssh_unauthorized`` (the dump host refused the key),
        ``ssh_unreachable`` (no connection).

    CLI Example:

    .. code-block:: bash

        salt '*' kdump_ssh.check
    """
    target = _pillar_target()
    if target.get("type") != "ssh":
        return {"ok": True, "code": None, "message": f"the dump target is {target.get('type')}, not ssh", "command": []}
    local = problems(target)
    if local:
        return {"ok": False, "code": local[0]["code"], "message": local[0]["message"], "command": []}
    ssh = _ssh_pillar()
    argv = _command(target, ssh, ["true"], timeout)
    result = __salt__["cmd.run_all"](argv, python_shell=False, ignore_retcode=True)
    err = (result.get("stderr") or "").strip()
    if not result.get("retcode"):
        return {"ok": True, "code": None, "message": f"{target['user']}@{target['host']} accepts the dump key", "command": argv}
    if "Permission denied" in err:
        code = "ssh_unauthorized"
        message = (f"{target['user']}@{target['host']} refused the dump key {_key_path(target)}: apply "
                   "kdump.ssh_server on the dump host after the mine has this minion's key")
    elif "Host key verification failed" in err or "IDENTIFICATION HAS CHANGED" in err:
        code, message = "ssh_host_unknown", f"the dump host's key does not match {ssh['known_hosts']}: {err}"
    else:
        code, message = "ssh_unreachable", f"cannot reach {target['host']}:{ssh['port']}: {err or 'exit ' + str(result.get('retcode'))}"
    return {"ok": False, "code": code, "message": message, "command": argv}


def _command(target, ssh, remote, timeout=10):
    """The ssh argument list kdump uses (key, BatchMode, strict host keys, the known_hosts),
    plus ``remote``; paths under ``kdump_root``."""
    root = _root()
    return [
        "ssh", "-i", files.rooted(root, _key_path(target)),
        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={files.rooted(root, ssh['known_hosts'])}",
        "-o", f"ConnectTimeout={int(timeout)}", "-p", str(ssh["port"]),
        f"{target['user']}@{target['host']}",
    ] + list(remote)
