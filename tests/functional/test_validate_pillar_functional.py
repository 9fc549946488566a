"""kdump.validate_pillar with no argument validates the minion's own kdump pillar, read
through Salt 3008's real pillar.get (which masks values unless asked with unmask=True)."""

import pytest
import yaml
from salt.exceptions import SaltInvocationError
from saltfactories.utils.functional import Loaders


def own_pillar_loaders(base_minion_opts, tmp_path, kdump):
    pillar_dir = tmp_path / "pillar"
    pillar_dir.mkdir(parents=True)
    (pillar_dir / "top.sls").write_text(yaml.safe_dump({"base": {"*": ["kdump"]}}))
    (pillar_dir / "kdump.sls").write_text(yaml.safe_dump({"kdump": kdump}))
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True)
    (root / "proc/meminfo").write_text("MemTotal:        2097152 kB\n")
    opts = dict(base_minion_opts, pillar_roots={"base": [str(pillar_dir)]}, kdump_root=str(root))
    loaders = Loaders(opts)
    loaders.grains["os_family"] = "RedHat"
    return loaders


def test_no_argument_validates_the_minions_own_pillar(base_minion_opts, tmp_path):
    good = {"settings": {"target": {"type": "ssh", "host": "dumps.example.com", "user": "kdump"}}}
    loaders = own_pillar_loaders(base_minion_opts, tmp_path / "good", good)
    try:
        normalized = loaders.modules.kdump.validate_pillar()
    finally:
        loaders.reset_state()
    assert normalized["settings"]["target"]["host"] == "dumps.example.com"
    assert normalized["settings"]["target"]["user"] == "kdump"


def test_no_argument_reports_every_error_of_the_own_pillar(base_minion_opts, tmp_path):
    bad = {"crashkernel": {"value": "128Q"}, "settings": {"collector": {"dump_level": 40}}, "colour": "blue"}
    loaders = own_pillar_loaders(base_minion_opts, tmp_path / "bad", bad)
    try:
        with pytest.raises(SaltInvocationError) as err:
            loaders.modules.kdump.validate_pillar()
    finally:
        loaders.reset_state()
    keys = [line.split(": ", 1)[0] for line in str(err.value).splitlines()]
    assert keys == ["kdump:colour", "kdump:crashkernel:value", "kdump:settings:collector:dump_level"]
