"""Test double for Salt's pkg module (functional tier): the installed packages are a JSON file
under ``kdump_root`` (``var/lib/kdumptest/pkgs.json``), so pkg.installed acts on the fake root."""

import json
import os

__virtualname__ = "kdumptest_pkg"
DB = "var/lib/kdumptest/pkgs.json"


def __virtual__():
    return __virtualname__


def _db():
    return os.path.join(__opts__["kdump_root"], DB)


def _load():
    try:
        with open(_db(), encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {}


def list_pkgs(versions_as_list=False, **kwargs):
    return {name: ([version] if versions_as_list else version) for name, version in _load().items()}


def version(*names, **kwargs):
    installed = _load()
    found = {name: installed.get(name, "") for name in names}
    return found[names[0]] if len(names) == 1 else found


def latest_version(*names, **kwargs):
    return "1.0" if len(names) == 1 else {name: "1.0" for name in names}


def install(name=None, pkgs=None, **kwargs):
    installed = _load()
    changes = {}
    for item in pkgs or [name]:
        pkg = next(iter(item)) if isinstance(item, dict) else item
        if pkg not in installed:
            installed[pkg] = "1.0"
            changes[pkg] = {"old": "", "new": "1.0"}
    os.makedirs(os.path.dirname(_db()), exist_ok=True)
    with open(_db(), "w", encoding="utf-8") as handle:
        json.dump(installed, handle)
    return changes
