"""kdumplib.audit: one readiness category and reason per minion, from kdump.status."""

import pytest

from kdumplib import audit, crashplan

READY = {"ready": True, "reboot_pending": False, "loaded": True, "reserved_bytes": 134217728,
         "free_bytes": 1 << 30, "estimate_bytes": 50 << 20, "problems": [], "boot_id": "b",
         "os_family": "Debian"}


def status(**changes):
    return {**READY, "ready": False, **changes}


@pytest.mark.parametrize("answer, category, reason", [
    (READY, "ready", None),
    (status(reboot_pending=True, loaded=False,
            problems=["no memory reserved for the crash kernel: x", "reboot pending: y"]),
     "reboot_pending", "reboot pending: y"),
    (status(loaded=False, problems=["the crash kernel is not loaded: start the kdump service"]),
     "not_loaded", "the crash kernel is not loaded: start the kdump service"),
    (status(loaded=False, reserved_bytes=0, problems=["no memory reserved for the crash kernel: z"]),
     "not_loaded", "no memory reserved for the crash kernel: z"),
    (status(free_bytes=10 << 20, problems=["not enough space to save a vmcore: need 50 MiB"]),
     "no_space", "not enough space to save a vmcore: need 50 MiB"),
    (status(free_bytes=10 << 20), "no_space",
     "not enough space to save a vmcore: need 50.0 MiB, the target has 10.0 MiB"),
    (status(problems=["the kdump-tools service is not running", "x"]), "not_ready",
     "the kdump-tools service is not running; x"),
    ("ERROR: 'kdump.status' is not available.", "no_answer",
     "kdump.status failed: ERROR: 'kdump.status' is not available."),
    (None, "no_answer", "did not answer kdump.status"),
])
def test_classify(answer, category, reason):
    assert audit.classify(answer) == (category, reason)


def test_record_has_the_shared_keys_the_status_fields_and_the_guard():
    record = audit.record("web1", READY, master_host="runs on the master's own host")
    assert set(crashplan.RECORD_KEYS) | set(audit.FIELDS) | {"master_host"} == set(record)
    assert (record["minion"], record["status"], record["reserved_bytes"]) == ("web1", "ready", 134217728)
    gone = audit.record("web2", None)
    assert gone["status"] == "no_answer" and gone["problems"] == ["did not answer kdump.status"]
    assert set(gone) == set(record) and gone["boot_id"] is None
