"""
The minion's ssh dump key: made once when missing, never rotated or overwritten.

The ``kdump_ssh`` execution module makes and checks the key; this state predicts under
``test=True`` what a real run does. Authorizing the key on the dump host (``ssh_auth``) and
pinning the dump host (``ssh_known_hosts``) are Salt's own states (salt/kdump/ssh.sls,
salt/kdump/ssh_server.sls).

.. code-block:: yaml

    kdump-ssh-key:
      kdump_ssh.key_present:
        - name: /root/.ssh/kdump_id_ed25519
"""

from salt.exceptions import CommandExecutionError, SaltInvocationError

__virtualname__ = "kdump_ssh"


def __virtual__():
    if "kdump_ssh.key" not in __salt__:
        return (False, "kdump_ssh states: the kdump_ssh execution module is not loaded")
    return __virtualname__


def key_present(name, key_type="auto"):
    """
    Make the dump key ``name`` when it does not exist (ed25519 where the family's kdump takes
    it, else RSA; mode 0600, owner root, no passphrase); keep an existing one. A file there that
    is not a usable private key fails the state and is left as it is.

    :param str name: absolute path of the private key (``kdump:settings:target:sshkey``).
    :param str key_type: ``auto`` | ``ed25519`` | ``rsa``.

    changes: ``{"created": {"path", "type"}}`` for a new key, ``{"fixed": [...]}`` for a mode,
    owner or ``.pub`` set right; none when the key is already right.
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    if not isinstance(key_type, str):
        ret.update(result=False, comment=f"key_type: {key_type!r} must be auto, ed25519 or rsa")
        return ret
    test = bool(__opts__["test"])
    try:
        plan = __salt__["kdump_ssh.key"](path=name, key_type=key_type, test=True)
        if not plan["changed"]:
            ret["comment"] = f"{name} is a usable {plan['type']} key: kept."
            return ret
        done = plan if test else __salt__["kdump_ssh.key"](path=name, key_type=key_type, test=False)
    except (CommandExecutionError, SaltInvocationError) as exc:
        ret.update(result=False, comment=str(exc))
        return ret
    if done["created"]:
        ret["changes"] = {"created": {"path": name, "type": done["type"]}}
        verb = "would be made" if test else "made"
        ret["comment"] = f"{name}: a new {done['type']} dump key {verb} (the dump host must authorize it)."
    else:
        ret["changes"] = {"fixed": list(done["fixed"])}
        verb = "would be set right" if test else "set right"
        ret["comment"] = f"{name}: {'; '.join(done['fixed'])} {verb}."
    if test:
        ret["result"] = None
    return ret
