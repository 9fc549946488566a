"""The wheel's version comes from FORMULA (the one place it is written); everything else is
in pyproject.toml."""

import pathlib
import re

from setuptools import setup


def formula_version():
    text = (pathlib.Path(__file__).parent / "FORMULA").read_text(encoding="utf-8")
    match = re.search(r"^version:\s*(\S+)\s*$", text, re.MULTILINE)
    if not match:
        raise SystemExit("FORMULA: no 'version:' line")
    return match.group(1)


setup(version=formula_version())
