"""Running a system command through Salt and failing with its stderr: one rule for all modules."""

import shlex


def run(cmd_run_all, argv, error, **kwargs):
    """Run ``argv`` with Salt's ``cmd.run_all`` (never a shell) and return its result.

    A non-zero exit raises ``error`` (the caller's exception class, normally
    ``CommandExecutionError``) naming the command, its exit code and its stderr (or stdout
    when stderr is empty), so every module reports a failed tool the same way.
    """
    result = cmd_run_all(argv, python_shell=False, **kwargs)
    if result.get("retcode"):
        detail = (result.get("stderr") or result.get("stdout") or "").strip()
        raise error(f"{shlex.join(argv)} failed (exit {result.get('retcode')}): {detail}")
    return result
