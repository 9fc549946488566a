"""Unit tier: ``kdumplib.freshness``, on a throwaway package built like kdumplib (the real one
stays imported for the other tests)."""

import importlib
import shutil
import sys
from pathlib import Path

import pytest

from kdumplib import freshness

NAME = "kdumplib_freshness_probe"


@pytest.fixture
def probe(tmp_path, monkeypatch):
    package = tmp_path / NAME
    package.mkdir()
    shutil.copy(freshness.__file__, package / "freshness.py")
    (package / "__init__.py").write_text(
        f"import sys\nfrom {NAME} import freshness as _f\n_f.stamp(sys.modules[__name__])\n")
    (package / "value.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield package
    for name in [n for n in sys.modules if n.split(".")[0] == NAME]:
        del sys.modules[name]


def _fresh_value():
    module = importlib.import_module(f"{NAME}.freshness")
    module.fresh()
    return importlib.import_module(f"{NAME}.value").VALUE


def test_an_unchanged_package_is_kept(probe):
    assert _fresh_value() == 1
    package = sys.modules[NAME]
    assert importlib.import_module(f"{NAME}.freshness").fresh() is package


def test_a_synced_file_is_imported_again(probe):
    assert _fresh_value() == 1
    (probe / "value.py").write_text("VALUE = 22\n")  # what saltutil.sync_utils does to a file
    assert _fresh_value() == 22


def test_a_file_added_by_the_sync_counts(probe):
    assert _fresh_value() == 1
    old = sys.modules[NAME]
    (probe / "added.py").write_text("")
    assert importlib.import_module(f"{NAME}.freshness").fresh() is not old


def test_a_package_imported_before_freshness_existed_is_imported_again(probe):
    assert _fresh_value() == 1
    old = sys.modules[NAME]
    delattr(old, freshness.STAMP)
    assert importlib.import_module(f"{NAME}.freshness").fresh() is not old


def test_the_real_package_is_stamped_and_current():
    import kdumplib

    assert getattr(kdumplib, freshness.STAMP) == freshness.signature(Path(kdumplib.__file__).parent)
    assert freshness.fresh() is kdumplib
