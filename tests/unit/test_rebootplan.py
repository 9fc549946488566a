"""kdumplib.rebootplan: the guarded reboot's decisions, without Salt."""

import pytest

from kdumplib import rebootplan


def status(pending, ready=False, boot_id="b-1", problems=()):
    return {"reboot_pending": pending, "ready": ready, "boot_id": boot_id, "problems": list(problems)}


@pytest.mark.parametrize("tgt, confirm", [("web*", "web*"), (["a", "b"], "a,b"), (["a", "b"], ["a", "b"]),
                                          ("G@role:db", "G@role:db")])
def test_confirm_repeats_the_target(tgt, confirm):
    rebootplan.check_confirm(tgt, confirm)


@pytest.mark.parametrize("tgt, confirm", [("web*", None), ("web*", True), ("web*", "yes"),
                                          ("web*", "web1"), (["a", "b"], "a"), ("*", "")])
def test_anything_else_is_refused_with_the_way_to_confirm(tgt, confirm):
    with pytest.raises(ValueError) as err:
        rebootplan.check_confirm(tgt, confirm)
    text = str(err.value)
    assert text.startswith(f"confirm: {confirm!r} does not repeat the target")
    assert f"pass confirm={rebootplan.target_text(tgt)!r}" in text


def test_split_reboots_only_known_pending_minions_with_a_boot_id():
    pending, not_pending, unknown = rebootplan.split({
        "web2": status(True), "web1": status(True, problems=["reboot pending: ..."]),
        "ok": status(False, ready=True), "stopped": status(False, problems=["service stopped"]),
        "old": {"ready": True, "boot_id": "x", "reboot_pending": None, "problems": []},
        "noboot": status(True, boot_id=None), "error": "ERROR: boom"})
    assert pending == ["web1", "web2"]
    assert set(not_pending) == {"ok", "stopped"} and not_pending["stopped"]["problems"] == ["service stopped"]
    assert unknown == {
        "old": ["whether a reboot is pending is unknown (crashkernel.get unavailable)"],
        "noboot": ["no boot_id: its return after a reboot could not be recognised"],
        "error": ["kdump.status failed: ERROR: boom"]}


def test_verdict_after_the_reboot():
    assert rebootplan.verdict(status(False, ready=True)) == ("ready", None)
    assert rebootplan.verdict(status(True, problems=["reboot pending: x"])) == (
        "failed", "came back, but the crashkernel reservation is still pending: reboot pending: x")
    assert rebootplan.verdict(status(False, problems=["a", "b"])) == (
        "failed", "came back, but kdump is not ready: a; b")
    assert rebootplan.verdict("ERROR") == ("failed", "kdump.status failed after the reboot: ERROR")
