"""kdumplib.osfamily: the one owner of the OS-family facts, and no second copy anywhere."""

import ast
import pathlib

import pytest
import yaml

from kdumplib import kdumpconf, osfamily, schema

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_family_table_has_everything_the_modules_and_the_formula_need():
    for row in osfamily.OS_FAMILIES.values():
        assert row["config_file"].startswith("/etc/")
        assert row["service"] and row["pkgs"] and row["lvm_pkgs"] and row["dump_layout"]
        assert row["format"] in ("kdump.conf", "shell")
        assert all(isinstance(cmd, list) and cmd for cmd in row["rebuild"])
        assert isinstance(row["service_starts_unreserved"], bool)
        assert isinstance(row["service_sets_panic_on_oops"], bool)
        assert isinstance(row["mounts_dump_device"], bool)
        assert set(osfamily.OVERRIDABLE) <= set(row)


def test_suse_installs_the_tools_its_kdump_package_requires():
    """openSUSE's kdump package requires kexec-tools and makedumpfile; the YAML listed them,
    the table did not: the table now says what the formula installed."""
    assert osfamily.family("Suse")["pkgs"] == ["kdump", "kexec-tools", "makedumpfile"]


def test_kdumpconf_reads_the_same_table():
    assert kdumpconf.OS_FAMILIES is osfamily.OS_FAMILIES
    assert kdumpconf.family is osfamily.family


def test_facts_apply_the_lookup_and_leave_the_table_alone():
    lookup = {"config_file": "/etc/kdump-custom.conf", "service": "kdump-custom", "sysctl_file": "/etc/x.conf"}
    facts = osfamily.facts("Suse", lookup)
    assert facts["config_file"] == "/etc/kdump-custom.conf"
    assert facts["service"] == "kdump-custom"
    assert facts["rebuild"] == [["systemctl", "restart", "kdump-custom"]]
    assert "sysctl_file" not in facts  # the formula's own key
    assert osfamily.OS_FAMILIES["Suse"]["service"] == "kdump"
    assert osfamily.OS_FAMILIES["Suse"]["rebuild"] == [["systemctl", "restart", "{service}"]]
    assert osfamily.facts("RedHat")["rebuild"] == osfamily.OS_FAMILIES["RedHat"]["rebuild"]


def test_unknown_family_is_named():
    with pytest.raises(ValueError, match=r"^os_family: 'Arch' is not supported \(supported: RedHat, Debian, Suse\)"):
        osfamily.facts("Arch")


def test_refused_lookup_key_is_named_with_the_reason():
    with pytest.raises(ValueError, match=r"^kdump:lookup:fstab_file: cannot be overridden"):
        schema.validate_pillar({"lookup": {"fstab_file": "/etc/fstab2"}})


# ----------------------------------------------------------------- one owner, a test enforces it


def _keys(data, prefix=()):
    """Every key path of a nested mapping."""
    paths = set()
    if isinstance(data, dict):
        for key, value in data.items():
            paths.add(prefix + (key,))
            paths |= _keys(value, prefix + (key,))
    return paths


def _owned_names():
    """Names whose values kdumplib owns: the family facts and the pillar's defaults."""
    names = set()
    for row in osfamily.OS_FAMILIES.values():
        names |= set(row)
    names |= set(schema.DEFAULT_PILLAR) | set(schema.DEFAULT_VOLUME)
    return names


def test_formula_yaml_holds_only_formula_settings():
    """No YAML of the formula repeats an OS fact or a pillar default of kdumplib: the map
    reads those from kdump.facts / kdump.defaults. What remains is the formula's own."""
    yamls = sorted((REPO / "salt").rglob("*.yaml"))
    assert [path.relative_to(REPO).as_posix() for path in yamls] == ["salt/kdump/defaults.yaml"]
    owned = _owned_names()
    for path in yamls:
        data = yaml.safe_load(path.read_text())
        overlap = {keys for keys in _keys(data) if keys[-1] in owned}
        assert not overlap, f"{path}: {sorted(overlap)} are owned by kdumplib"
    formula = yaml.safe_load((REPO / "salt/kdump/defaults.yaml").read_text())["kdump"]
    assert set(formula) == set(schema.FORMULA_LOOKUP_KEYS)
    assert set(schema.LOOKUP_KEYS) == set(osfamily.OVERRIDABLE) | set(schema.FORMULA_LOOKUP_KEYS)


def _family_tables(tree):
    """Dict literals keyed by the family names whose values are dicts of OS facts."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Dict):
            continue
        keys = {key.value for key in node.keys if isinstance(key, ast.Constant)}
        if not {"RedHat", "Debian", "Suse"} <= keys:
            continue
        for value in node.values:
            if isinstance(value, ast.Dict):
                inner = {key.value for key in value.keys if isinstance(key, ast.Constant)}
                if inner & set(osfamily.OS_FAMILIES["RedHat"]):
                    found.append(node.lineno)
                    break
    return found


def test_no_other_source_keeps_a_copy_of_the_family_table():
    """Tests and modules read kdumplib.osfamily; a second per-family table of facts
    (the functional test kept one) drifts."""
    owner = REPO / "_utils/kdumplib/osfamily.py"
    sources = [path for top in ("_modules", "_states", "_runners", "_utils", "tests")
               for path in (REPO / top).rglob("*.py") if path != owner]
    assert sources
    copies = {}
    for path in sources:
        lines = _family_tables(ast.parse(path.read_text(), str(path)))
        if lines:
            copies[path.relative_to(REPO).as_posix()] = lines
    assert copies == {}
