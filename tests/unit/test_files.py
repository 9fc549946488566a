"""kdumplib.files: rooted paths and atomic writes that keep one backup."""

import os
import stat

import pytest
from kdumplib import files


def test_rooted_joins_absolute_path_under_root(tmp_path):
    assert files.rooted(str(tmp_path), "/etc/kdump.conf") == str(tmp_path / "etc/kdump.conf")
    assert files.rooted("/", "/etc/kdump.conf") == "/etc/kdump.conf"
    assert files.rooted(None, "/proc/cmdline") == "/proc/cmdline"


def test_rooted_refuses_relative_path():
    with pytest.raises(ValueError, match="'etc/kdump.conf' is not absolute"):
        files.rooted("/", "etc/kdump.conf")


def test_read_text_default_when_missing(tmp_path):
    assert files.read_text(str(tmp_path), "/etc/missing") is None
    assert files.read_text(str(tmp_path), "/etc/missing", default="") == ""


def test_first_write_creates_file_and_directories_without_backup(tmp_path):
    assert files.write_text_atomic(str(tmp_path), "/etc/default/grub", "A=1\n") is True
    target = tmp_path / "etc/default/grub"
    assert target.read_text() == "A=1\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert not (tmp_path / "etc/default/grub.kdump-formula.bak").exists()


def test_change_keeps_previous_version_once_and_mode(tmp_path):
    target = tmp_path / "etc/kdump.conf"
    target.parent.mkdir(parents=True)
    target.write_text("v1\n")
    os.chmod(target, 0o600)
    assert files.write_text_atomic(str(tmp_path), "/etc/kdump.conf", "v2\n") is True
    assert files.write_text_atomic(str(tmp_path), "/etc/kdump.conf", "v3\n") is True
    backup = tmp_path / "etc/kdump.conf.kdump-formula.bak"
    assert target.read_text() == "v3\n"
    assert backup.read_text() == "v2\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600


def test_same_content_is_not_rewritten(tmp_path):
    target = tmp_path / "etc/kdump.conf"
    target.parent.mkdir(parents=True)
    target.write_text("same\n")
    before = target.stat().st_ino
    assert files.write_text_atomic(str(tmp_path), "/etc/kdump.conf", "same\n") is False
    assert target.stat().st_ino == before
    assert not (tmp_path / "etc/kdump.conf.kdump-formula.bak").exists()


def test_failed_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "etc/kdump.conf"
    target.parent.mkdir(parents=True)
    target.write_text("old\n")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        files.write_text_atomic(str(tmp_path), "/etc/kdump.conf", "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in target.parent.iterdir() if p.name.startswith(".kdump-formula.")] == []

