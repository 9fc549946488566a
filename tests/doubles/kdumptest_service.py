"""Test double for Salt's service module (functional tier): enabled/running per service in
``var/lib/kdumptest/services.json`` under ``kdump_root``."""

import json
import os

__virtualname__ = "kdumptest_service"
DB = "var/lib/kdumptest/services.json"


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


def _set(name, key, value):
    data = _load()
    data.setdefault(name, {"enabled": False, "running": False})[key] = value
    os.makedirs(os.path.dirname(_db()), exist_ok=True)
    with open(_db(), "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    return True


def available(name):
    return True


def missing(name):
    return False


def offline():
    return False


def enabled(name, **kwargs):
    return _load().get(name, {}).get("enabled", False)


def disabled(name, **kwargs):
    return not enabled(name)


def status(name, sig=None, **kwargs):
    return _load().get(name, {}).get("running", False)


def enable(name, **kwargs):
    return _set(name, "enabled", True)


def disable(name, **kwargs):
    return _set(name, "enabled", False)


def start(name, **kwargs):
    return _set(name, "running", True)


def stop(name, **kwargs):
    return _set(name, "running", False)
