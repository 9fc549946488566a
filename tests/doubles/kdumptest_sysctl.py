"""Test double for Salt's sysctl module (functional tier): the running values are a JSON file
under ``kdump_root`` (``proc/sys.json``); persisting writes ``key = value`` lines into the
(rooted) config file as Salt's linux_sysctl does."""

import json
import os

__virtualname__ = "kdumptest_sysctl"
RUNNING = "proc/sys.json"


def __virtual__():
    return __virtualname__


def _path():
    return os.path.join(__opts__["kdump_root"], RUNNING)


def _running():
    with open(_path(), encoding="utf-8") as handle:
        return json.load(handle)


def get(name):
    return _running()[name]


def assign(name, value):
    values = _running()
    values[name] = str(value)
    with open(_path(), "w", encoding="utf-8") as handle:
        json.dump(values, handle)
    return {name: str(value)}


def show(config_file=False):
    if not config_file:
        return dict(_running())
    values = {}
    try:
        with open(config_file, encoding="utf-8") as handle:
            for line in handle:
                if "=" in line and not line.lstrip().startswith("#"):
                    key, value = (part.strip() for part in line.split("=", 1))
                    values[key] = value
    except FileNotFoundError:
        pass
    return values


def persist(name, value, config=None):
    lines, found = [], False
    try:
        with open(config, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        os.makedirs(os.path.dirname(config), exist_ok=True)
    for index, line in enumerate(lines):
        if "=" in line and line.split("=", 1)[0].strip() == name:
            found = True
            if line.split("=", 1)[1].strip() == str(value) and get(name) == str(value):
                return "Already set"
            lines[index] = f"{name} = {value}"
    if not found:
        lines.append(f"{name} = {value}")
    with open(config, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    assign(name, value)
    return "Updated"
