"""Packaging metadata agrees with itself: FORMULA (the one version), CHANGELOG, pyproject's
entry point, and the loader directories it hands Salt from a checkout."""

import pathlib
import re
import tomllib

import yaml

from kdump_formula import loader

REPO = pathlib.Path(__file__).resolve().parents[2]
FORMULA = yaml.safe_load((REPO / "FORMULA").read_text(encoding="utf-8"))


def test_formula_has_the_saltstack_formulas_fields():
    assert set(FORMULA) == {"name", "os", "os_family", "version", "release", "minimum_version",
                            "summary", "description", "top_level_dir"}
    assert (REPO / "salt" / FORMULA["top_level_dir"] / "init.sls").exists()
    assert re.fullmatch(r"\d+\.\d+\.\d+", FORMULA["version"])
    assert set(FORMULA["os_family"].split(", ")) == {"Debian", "RedHat", "Suse"}


def test_changelog_starts_with_this_version():
    # An "Unreleased" section (changes not yet in a version) may come first.
    first = next(line for line in (REPO / "CHANGELOG.md").read_text(encoding="utf-8").splitlines()
                 if line.startswith("## ") and line != "## Unreleased")
    assert first.startswith(f"## {FORMULA['version']} ")


def test_pyproject_entry_point_is_the_loader():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["dynamic"] == ["version"]
    assert project["project"]["entry-points"]["salt.loader"] == {
        "kdump-formula": "kdump_formula.loader:get_loader_dirs"}
    mapped = project["tool"]["setuptools"]["package-dir"]
    assert mapped == {f"kdump_formula.{installed}": checkout
                      for installed, checkout in loader.LOADER_DIRS.values()} | {"kdumplib": "_utils/kdumplib"}


def test_a_checkout_hands_salt_its_top_level_directories():
    assert loader.get_loader_dirs() == {
        "modules": [str(REPO / "_modules")], "states": [str(REPO / "_states")],
        "runners": [str(REPO / "_runners")], "output": [str(REPO / "_output")]}
