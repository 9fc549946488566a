"""kdump.validate_pillar with no argument validates the minion's own kdump pillar, read
through Salt 3008's real pillar.get (which masks values unless asked with unmask=True)."""

import pytest
from salt.exceptions import SaltInvocationError


def test_no_argument_validates_the_minions_own_pillar(own_pillar_loaders, tmp_path):
    good = {"settings": {"target": {"type": "ssh", "host": "dumps.example.com", "user": "kdump"}}}
    loaders, _root = own_pillar_loaders(tmp_path / "good", good)
    try:
        normalized = loaders.modules.kdump.validate_pillar()
    finally:
        loaders.reset_state()
    assert normalized["settings"]["target"]["host"] == "dumps.example.com"
    assert normalized["settings"]["target"]["user"] == "kdump"


def test_no_argument_reports_every_error_of_the_own_pillar(own_pillar_loaders, tmp_path):
    bad = {"crashkernel": {"value": "128Q"}, "settings": {"collector": {"dump_level": 40}}, "colour": "blue"}
    loaders, _root = own_pillar_loaders(tmp_path / "bad", bad)
    try:
        with pytest.raises(SaltInvocationError) as err:
            loaders.modules.kdump.validate_pillar()
    finally:
        loaders.reset_state()
    keys = [line.split(": ", 1)[0] for line in str(err.value).splitlines()]
    assert keys == ["kdump:colour", "kdump:crashkernel:value", "kdump:settings:collector:dump_level"]


@pytest.mark.parametrize("value", ["auto", "measured"])
def test_the_words_auto_and_measured_pass_the_boot_loader_check(own_pillar_loaders, tmp_path, value):
    """Both are resolved on the minion later (distribution default, crashkernel.measure): the
    boot loader can only be asked about the scope here. The fleet tier found ``measured``
    refused by validate_pillar ("size 'measured' is not a size") before anything ran."""
    loaders, root = own_pillar_loaders(tmp_path / value, {"crashkernel": {"value": value}}, os_family="Debian")
    (root / "etc/default").mkdir(parents=True)
    (root / "etc/default/grub").write_text('GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n')
    (root / "boot/grub").mkdir(parents=True)
    (root / "boot/grub/grub.cfg").write_text("linux /vmlinuz root=/dev/vda1 ro quiet\n")
    try:
        normalized = loaders.modules.kdump.validate_pillar()
    finally:
        loaders.reset_state()
    assert normalized["crashkernel"]["value"] == value
