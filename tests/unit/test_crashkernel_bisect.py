"""bench/crashkernel_bisect.py: the bisection and its plan, with a fake try instead of a guest."""

import pytest

from bench import crashkernel_bisect as cb

M = 1 << 20


class FakeGuest:
    """Captures from ``threshold`` bytes up; counts the tries like real boots."""

    def __init__(self, threshold):
        self.threshold = threshold
        self.tried = []

    def __call__(self, size):
        self.tried.append(size)
        return size >= self.threshold


@pytest.mark.parametrize("threshold, smallest", [(124 * M, 128 * M), (128 * M, 128 * M), (129 * M, 136 * M),
                                                 (72 * M, 72 * M), (384 * M, 384 * M), (200 * M, 200 * M)])
def test_bisect_finds_the_smallest_step_that_captures(threshold, smallest):
    guest = FakeGuest(threshold)
    found = cb.bisect(64 * M, 384 * M, guest, 8 * M)
    assert found["smallest_bytes"] == smallest
    assert [t["bytes"] for t in found["tries"]] == guest.tried and guest.tried[0] == 384 * M
    assert all(t["captured"] == (t["bytes"] >= threshold) for t in found["tries"])
    assert len(guest.tried) <= cb.max_tries(64 * M, 384 * M, 8 * M) == 7
    assert all(size % (8 * M) == 0 for size in guest.tried)
    assert found["lower_bound_confirmed"] is (smallest != 72 * M)


def test_everything_captures_says_the_lower_bound_is_unconfirmed():
    found = cb.bisect(64 * M, 384 * M, FakeGuest(0), 8 * M)
    assert found["smallest_bytes"] == 72 * M and found["lower_bound_confirmed"] is False


def test_an_upper_bound_that_does_not_capture_stops_after_one_try():
    guest = FakeGuest(512 * M)
    with pytest.raises(cb.BisectError, match=r"^high: 384M did not capture a dump; raise --high"):
        cb.bisect(64 * M, 384 * M, guest, 8 * M)
    assert guest.tried == [384 * M]


@pytest.mark.parametrize("low, high, step", [(128 * M, 64 * M, 8 * M), (64 * M, 380 * M, 8 * M),
                                             (64 * M, 128 * M, 0), (-1, 128 * M, 8 * M)])
def test_bad_bounds_are_refused_before_any_try(low, high, step):
    guest = FakeGuest(0)
    with pytest.raises(cb.BisectError):
        cb.bisect(low, high, guest, step)
    assert guest.tried == []


def test_plan_shows_both_extreme_paths_without_booting(capsys):
    shown = cb.plan(64 * M, 384 * M, 8 * M)
    assert shown["if_every_try_fails"] == [m * M for m in (384, 224, 304, 344, 360, 368, 376)]
    assert shown["if_every_try_captures"] == [m * M for m in (384, 224, 144, 104, 80, 72)]
    assert cb.main(["--plan", "--suite", "trixie"]) == 0
    out = capsys.readouterr().out
    assert "trixie (Debian 13" in out and "bookworm" not in out and "boot 3: look" in out
    assert cb.main(["--plan", "--high", "380M"]) == 2
    assert "whole number of steps" in capsys.readouterr().err


def test_ratios_put_the_recommendation_beside_the_smallest():
    measured = {"release": "6.1.0-50-amd64", "min_bytes": 140 * M, "model_bytes": 154 * M,
                "reserved_bytes": 200 * M, "value": "200M",
                "parts": {}, "band": [168 * M, 224 * M], "kernel_method": "bzImage init_size",
                "unpacked_method": "measured"}
    record = cb.ratios(128 * M, measured, {"value": "384M-:128M", "reserved_bytes": 128 * M, "source": "kdump-tools"})
    assert record["ratio_recommended"] == 1.562 and record["recommended_in_band"] is True
    assert record["ratio_estimated_min"] == 1.094 and record["ratio_default"] == 1.0
    assert record["ratio_model"] == 1.203 and record["measured"]["model_bytes"] == 154 * M
    assert cb.ratios(128 * M) == {"smallest_bytes": 128 * M}


def test_base_cmdline_drops_what_grub_adds_and_any_reservation():
    assert cb.base_cmdline("BOOT_IMAGE=/boot/vmlinuz-6.1 root=UUID=ab ro console=ttyS0,115200 crashkernel=192M\n") \
        == "root=UUID=ab ro console=ttyS0,115200"


@pytest.mark.parametrize("outcome, serial, captured", [
    ("crashed", "Kernel panic - not syncing: sysrq\n...\nkdump-tools[312]: saved vmcore in /var/crash/2026", True),
    ("crashed", "Kernel panic - not syncing: sysrq\nmakedumpfile Completed.\n", True),
    # the capture kernel ran out of memory: panicked again, rebooted (panic=10), nothing saved
    ("crashed", "Kernel panic - not syncing: sysrq\nOut of memory\nKernel panic - not syncing: System is deadlocked", False),
    # the saved line of an earlier boot, before this panic, does not count
    ("crashed", "saved vmcore in /var/crash/1\nKernel panic - not syncing: sysrq\n", False),
    ("completed", "saved vmcore in /var/crash/1", False),  # step exit 3: the capture kernel never loaded
    ("timeout", "Kernel panic - not syncing: sysrq\n", False),
])
def test_a_try_captured_only_when_the_console_saved_the_dump_after_the_panic(outcome, serial, captured):
    assert cb.captured_on_console(outcome, serial) is captured
