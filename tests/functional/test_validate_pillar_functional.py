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
