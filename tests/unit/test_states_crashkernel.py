"""Unit tier: crashkernel.configured / crashkernel.absent over an in-memory crashkernel module."""

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from _states import crashkernel as state
from kdumplib import sizes


class FakeCrashkernel:
    """The crashkernel execution module's contract, kept in memory: one boot-loader file."""

    def __init__(self, configured=None, running=None, recommended="256M"):
        self.configured = configured
        self.running = running
        self.recommended = recommended
        self.set_calls = []
        self.remove_calls = []
        self.broken_set = False
        self.package_value = None
        self.formula_files = True
        self.measured_min = None
        self.scopes = []

    def parse(self, value):
        size, _, offset = str(value).partition("@")
        try:
            return {
                "value": value,
                "kind": "simple",
                "size": sizes.parse_size(size.upper()),
                "offset": sizes.parse_size(offset.upper()) if offset else None,
                "ranges": [],
                "modifier": None,
            }
        except ValueError as exc:
            raise SaltInvocationError(f"crashkernel: {exc}") from None

    def spec(self, value, low=None):
        """Canonical text: each token parsed (upper case), ``low`` appended as ``<low>,low``."""
        tokens = str(value).split() + ([f"{low},low"] if low is not None else [])
        out = []
        for token in tokens:
            size, _, modifier = token.partition(",")
            self.parse(size)
            out.append(size.upper() + (f",{modifier.lower()}" if modifier else ""))
        return " ".join(out)

    def recommend(self, value="auto"):
        if value == "measured":
            if self.measured_min is None:
                raise CommandExecutionError("/var/lib/kdump/initrd.img-6.1: truncated")
            mib = self.measured_min >> 20
            return {"value": f"{mib * 14 // 10}M", "source": f"measured: at least {mib}M",
                    "reserved_bytes": (mib * 14 // 10) << 20, "min_bytes": self.measured_min,
                    "band": [self.measured_min * 12 // 10, self.measured_min * 16 // 10]}
        return {"value": self.recommended, "source": "table for 4G RAM", "reserved_bytes": 1}

    def resolve(self, value):
        return self.parse(value)["size"]

    def get(self):
        return {
            "backend": "grub2-default",
            "running": self.running,
            "configured": self.configured,
            "sources": [],
            "reserved_bytes": self.parse(self.running)["size"] if self.running else 0,
            "loaded": False,
            "reboot_pending": self.configured != self.running,
        }

    def set(self, value, default_entry_only=False, test=False, low=None, scope=None):
        value = self.spec(value, low)
        self.set_calls.append((value, default_entry_only, test))
        self.scopes.append(scope)
        old = self.configured
        if not test and not self.broken_set:
            self.configured = value
        changed = old is None or self.spec(old) != value
        return {"backend": "grub2-default", "old": old, "new": value, "changed": changed,
                "files": ["/etc/default/grub"], "commands": [["update-grub"]]}

    def remove(self, test=False, restore=False):
        self.remove_calls.append(test)
        old = self.configured
        # restore: the package's own value comes back (Debian's kdump-tools.cfg).
        new = self.package_value if restore else None
        changed = old != new or (restore and self.formula_files)
        if not test:
            self.configured = new
            if restore:
                self.formula_files = False
        return {"backend": "grub2-default", "old": old, "new": new, "changed": bool(changed),
                "files": ["/etc/default/grub"], "commands": [["update-grub"]]}


@pytest.fixture
def fake():
    return FakeCrashkernel()


@pytest.fixture
def opts():
    return {"test": False}


@pytest.fixture
def configure_loader_modules(fake, opts):
    salt = {f"crashkernel.{name}": getattr(fake, name)
            for name in ("parse", "spec", "recommend", "resolve", "get", "set", "remove")}
    return {state: {"__salt__": salt, "__opts__": opts}}


def test_configured_sets_value_reports_reboot_and_second_run_is_quiet(fake):
    ret = state.configured("128M@16M")
    assert ret["result"] is True
    assert ret["changes"] == {"configured": {"old": None, "new": "128M@16M"}}
    assert ret["reboot_pending"] is True
    assert "reboot required for the reservation to take effect" in ret["comment"]
    assert fake.configured == "128M@16M"

    again = state.configured("128M@16M")
    assert again["changes"] == {}
    assert again["result"] is True
    assert len([c for c in fake.set_calls if not c[2]]) == 1


def test_test_mode_predicts_exactly_the_real_changes(fake, opts):
    opts["test"] = True
    predicted = state.configured("auto")
    assert predicted["result"] is None
    assert fake.configured is None
    assert fake.set_calls == [("256M", False, True)]
    opts["test"] = False
    real = state.configured("auto")
    assert real["changes"] == predicted["changes"] == {"configured": {"old": None, "new": "256M"}}
    assert real["reboot_pending"] == predicted["reboot_pending"] is True


def test_equal_values_in_other_spelling_are_not_a_change(fake):
    fake.configured = fake.running = "128m@16m"
    ret = state.configured("128M@16M")
    assert ret == {"name": "128M@16M", "result": True, "changes": {}, "reboot_pending": False,
                   "comment": ret["comment"]}
    assert "already configured" in ret["comment"]
    # only the module's prediction was asked (it decides whether every entry has it)
    assert fake.set_calls == [("128M@16M", False, True)]


def test_running_kernel_with_reservation_means_no_reboot_pending(fake):
    fake.running = "256M"
    ret = state.configured("auto")
    assert ret["changes"] == {"configured": {"old": None, "new": "256M"}}
    assert ret["reboot_pending"] is False
    assert "reboot" not in ret["comment"]


def test_require_reboot_fail_fails_until_the_running_kernel_has_it(fake, opts):
    ret = state.configured("256M", require_reboot="fail")
    assert ret["result"] is False and ret["reboot_pending"] is True
    assert fake.configured == "256M"  # the change itself is made; only the verdict fails
    assert state.configured("256M", require_reboot="fail")["result"] is False
    fake.running = "256M"  # the reboot happened
    after = state.configured("256M", require_reboot="fail")
    assert after["result"] is True and after["reboot_pending"] is False and after["changes"] == {}


def test_require_reboot_fail_under_test_keeps_result_none(fake, opts):
    opts["test"] = True
    ret = state.configured("256M", require_reboot="fail")
    assert ret["result"] is None
    assert ret["reboot_pending"] is True


@pytest.mark.parametrize(
    "kwargs, starts",
    [
        ({"require_reboot": "sometimes"}, "require_reboot:"),
        ({"default_entry_only": "yes"}, "default_entry_only:"),
        ({"name": ""}, "name:"),
        ({"name": "lots"}, "crashkernel:"),
    ],
)
def test_bad_arguments_fail_naming_the_argument_before_any_change(fake, kwargs, starts):
    args = {"name": "256M", **kwargs}
    ret = state.configured(**args)
    assert ret["result"] is False
    assert ret["comment"].startswith(starts)
    assert ret["changes"] == {}
    assert fake.configured is None and [c for c in fake.set_calls if not c[2]] == []


def test_a_set_that_does_not_stick_is_an_error(fake):
    fake.broken_set = True
    ret = state.configured("256M")
    assert ret["result"] is False
    assert "would get crashkernel=None, not 256M" in ret["comment"]


def test_absent_removes_and_says_the_running_kernel_still_has_it(fake, opts):
    fake.configured = fake.running = "256M"
    opts["test"] = True
    predicted = state.absent("no-crashkernel")
    assert predicted["result"] is None and fake.configured == "256M"
    opts["test"] = False
    ret = state.absent("no-crashkernel")
    assert ret["result"] is True
    assert ret["changes"] == predicted["changes"] == {"configured": {"old": "256M", "new": None}}
    assert ret["reboot_pending"] is True and "reboot required to release" in ret["comment"]
    again = state.absent("no-crashkernel")
    assert again["changes"] == {} and fake.remove_calls == [True, False]


def test_absent_restore_gives_the_package_value_back(fake, opts):
    """kdump.clean: the formula's files undone, Debian's kdump-tools.cfg value applies again."""
    fake.configured = fake.running = "256M"
    fake.package_value = "192M"
    opts["test"] = True
    predicted = state.absent("clean", restore=True)
    assert predicted["result"] is None and fake.configured == "256M"
    assert predicted["changes"]["configured"] == {"old": "256M", "new": "192M"}
    assert predicted["comment"].startswith("crashkernel=256M would be restored to crashkernel=192M")
    opts["test"] = False
    ret = state.absent("clean", restore=True)
    assert ret["result"] is True and ret["changes"] == predicted["changes"]
    assert fake.configured == "192M" and ret["reboot_pending"] is True
    again = state.absent("clean", restore=True)
    assert again["result"] is True and again["changes"] == {}
    assert state.absent("clean", restore="yes")["comment"].startswith("restore:")


def test_module_errors_become_result_false(fake):
    def broken():
        raise CommandExecutionError("update-grub failed: no space left")

    state.__salt__["crashkernel.get"] = broken
    ret = state.configured("256M")
    assert ret["result"] is False and ret["comment"] == "update-grub failed: no space left"
    assert state.absent("x")["result"] is False


M = 1 << 20


def test_measured_keeps_a_value_inside_the_band_and_resizes_outside(fake, opts):
    fake.measured_min = 100 * M
    fake.configured = fake.running = "150M"  # 1.5x the minimum: kept
    kept = state.configured("measured")
    # only the prediction (set test=True) ran
    assert kept["result"] is True and kept["changes"] == {} and fake.set_calls == [("150M", False, True)]
    assert "within the band" in kept["comment"] and kept["reboot_pending"] is False

    fake.measured_min = 130 * M  # a bigger capture initrd: 150M is 1.15x, out of the band
    opts["test"] = True
    predicted = state.configured("measured")
    assert predicted["result"] is None and fake.configured == "150M"
    assert predicted["changes"] == {"configured": {"old": "150M", "new": "182M"}}
    assert predicted["reboot_pending"] is True
    opts["test"] = False
    real = state.configured("measured")
    assert real["changes"] == predicted["changes"] and real["reboot_pending"] is True
    assert fake.configured == "182M"
    assert state.configured("measured")["changes"] == {}


def test_measured_resizes_a_wasteful_value(fake):
    fake.measured_min = 100 * M
    fake.configured = "512M"
    ret = state.configured("measured")
    assert ret["changes"] == {"configured": {"old": "512M", "new": "140M"}}


def test_measured_on_a_broken_initrd_fails_and_changes_nothing(fake):
    ret = state.configured("measured")
    assert ret["result"] is False and ret["comment"] == "/var/lib/kdump/initrd.img-6.1: truncated"
def test_not_managed_reports_and_never_edits(fake):
    fake.configured, fake.running = "384M-:128M", "256M"
    ret = state.configured("512M", manage=False)
    assert ret["result"] is True and ret["changes"] == {}
    assert fake.set_calls == [] and fake.remove_calls == []
    assert ret["comment"].startswith("crashkernel= not managed (kdump:crashkernel:manage false)")
    assert "(crashkernel=256M) reserves 256M" in ret["comment"]
    assert "the boot loader gives crashkernel=384M-:128M" in ret["comment"]
    assert ret["reboot_pending"] is True


def test_not_managed_without_any_reservation_fails_with_require_reboot_fail(fake):
    ret = state.configured("auto", manage=False, require_reboot="fail")
    assert fake.set_calls == []
    assert "reserves nothing; the boot loader gives no crashkernel=" in ret["comment"]
    assert ret["result"] is True  # nothing differs: readiness (kdump.ready) reports not_reserved
    fake.configured = "256M"
    assert state.configured("auto", manage=False, require_reboot="fail")["result"] is False


def test_a_high_low_pair_is_one_value_for_the_state(fake, opts):
    opts["test"] = True
    predicted = state.configured("512m,high", low="256m", scope="default")
    assert predicted["result"] is None
    assert predicted["changes"] == {"configured": {"old": None, "new": "512M,high 256M,low"}}
    opts["test"] = False
    real = state.configured("512M,high", low="256M", scope="default")
    assert real["changes"] == predicted["changes"]
    assert fake.configured == "512M,high 256M,low"
    assert set(fake.scopes) == {"default"}
    again = state.configured("512M,high", low="256M", scope="default")
    assert again["changes"] == {} and "already configured" in again["comment"]


def test_entries_outside_the_default_one_are_a_change_though_the_default_has_it(fake):
    fake.configured = "256M"
    real_set = fake.set

    def other_entries_lack_it(value, **kwargs):
        ret = real_set(value, **kwargs)
        ret["changed"] = kwargs.get("test", False)  # the first prediction sees a stale entry
        ret["files"] = ["/boot/grub/grub.conf"]
        return ret

    fake.set = other_entries_lack_it
    state.__salt__["crashkernel.set"] = other_entries_lack_it
    ret = state.configured("256M", scope="all")
    assert ret["changes"] == {"configured": {"old": "256M", "new": "256M"}, "files": ["/boot/grub/grub.conf"]}
    assert "the default entry had it already" in ret["comment"]


@pytest.mark.parametrize(
    "kwargs, key",
    [({"scope": "every"}, "scope:"), ({"manage": "no"}, "manage:"), ({"low": "256M"}, "low:")],
)
def test_bad_scope_manage_or_low_fail_naming_the_argument(fake, kwargs, key):
    ret = state.configured("auto", **kwargs)
    assert ret["result"] is False and ret["comment"].startswith(key)
    assert fake.set_calls == []
