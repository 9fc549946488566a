"""kdumplib.commands: one way to run a tool and report its failure."""

import pytest
from kdumplib import commands


def test_commands_run_names_command_exit_and_stderr():
    calls = []

    def run_all(argv, **kwargs):
        calls.append((argv, kwargs))
        return {"retcode": 2, "stdout": "", "stderr": "grub-mkconfig: no space\n"}

    with pytest.raises(RuntimeError, match=r"^update-grub --x 'a b' failed \(exit 2\): grub-mkconfig: no space$"):
        commands.run(run_all, ["update-grub", "--x", "a b"], RuntimeError, ignore_retcode=True)
    assert calls == [(["update-grub", "--x", "a b"], {"python_shell": False, "ignore_retcode": True})]
    ok = {"retcode": 0, "stdout": "done", "stderr": ""}
    assert commands.run(lambda argv, **kw: ok, ["true"], RuntimeError) is ok
