"""Functional tier: vmcore.retained through Salt's real loaders and vmcore module on a fake root
holding Debian kdump-tools dump directories."""

import pytest


@pytest.fixture
def dumps(fake_root):
    crash = fake_root / "var/crash"
    names = ["202401010000", "202402010000", "202403010000", "202404010000"]
    for name in names:
        (crash / name).mkdir(parents=True)
        (crash / name / f"dump.{name}").write_bytes(b"KDUMP   " + b"\0" * 4096)
        (crash / name / f"dmesg.{name}").write_text("[    0.000000] Linux version 6.1.0-18-amd64\n")
    return crash


def test_retained_predicts_exactly_what_it_removes(loaders, dumps):
    predicted = loaders.states.vmcore.retained(name="retention", keep=2, test=True)
    assert predicted.result is None
    assert predicted.changes == {"removed": ["/var/crash/202402010000", "/var/crash/202401010000"]}
    assert len(list(dumps.iterdir())) == 4

    real = loaders.states.vmcore.retained(name="retention", keep=2)
    assert real.result is True and real.changes == predicted.changes
    assert sorted(p.name for p in dumps.iterdir()) == ["202403010000", "202404010000"]

    again = loaders.states.vmcore.retained(name="retention", keep=2)
    assert again.result is True and again.changes == {}


def test_bad_keep_fails_and_removes_nothing(loaders, dumps):
    ret = loaders.states.vmcore.retained(name="retention", keep=-1)
    assert ret.result is False and str(ret.comment).startswith("keep:")
    assert len(list(dumps.iterdir())) == 4
