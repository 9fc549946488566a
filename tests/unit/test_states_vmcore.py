"""Unit tier: vmcore.retained over an in-memory dump directory."""

import pytest
from salt.exceptions import CommandExecutionError

from _states import vmcore as state


class FakeVmcore:
    def __init__(self, dirs):
        self.dirs = list(dirs)  # newest first, as vmcore.list orders them

    def prune(self, keep, test=False):
        removed, kept = self.dirs[keep:], self.dirs[:keep]
        if not test:
            self.dirs = kept
        return {"removed": removed, "kept": kept}


@pytest.fixture
def fake():
    return FakeVmcore([f"/var/crash/2024-0{n}" for n in (5, 4, 3, 2, 1)])


@pytest.fixture
def opts():
    return {"test": False}


@pytest.fixture
def configure_loader_modules(fake, opts):
    return {state: {"__salt__": {"vmcore.prune": fake.prune}, "__opts__": opts}}


def test_retained_predicts_and_removes_the_oldest(fake, opts):
    opts["test"] = True
    predicted = state.retained("r", keep=3)
    assert predicted["result"] is None and len(fake.dirs) == 5
    opts["test"] = False
    ret = state.retained("r", keep=3)
    assert ret["result"] is True
    assert ret["changes"] == predicted["changes"] == {"removed": ["/var/crash/2024-02", "/var/crash/2024-01"]}
    assert fake.dirs == ["/var/crash/2024-05", "/var/crash/2024-04", "/var/crash/2024-03"]
    again = state.retained("r", keep=3)
    assert again["changes"] == {} and again["result"] is True


def test_keep_null_keeps_everything(fake):
    ret = state.retained("r", keep=None)
    assert ret["result"] is True and ret["changes"] == {} and len(fake.dirs) == 5


@pytest.mark.parametrize("keep", [-1, "3", True, 2.5])
def test_bad_keep_fails_naming_the_argument(fake, keep):
    ret = state.retained("r", keep=keep)
    assert ret["result"] is False and ret["comment"].startswith("keep:") and len(fake.dirs) == 5


def test_prune_errors_become_result_false(fake):
    def broken(keep, test=False):
        raise CommandExecutionError("rm /var/crash/x: permission denied")

    state.__salt__["vmcore.prune"] = broken
    ret = state.retained("r", keep=1)
    assert ret == {"name": "r", "result": False, "changes": {}, "comment": "rm /var/crash/x: permission denied"}
