"""The kdump formula rendered by Salt's real loaders: `state.show_sls` per OS family.

Each OS family gets its own minion configuration whose static ``grains`` set ``os_family``
(Salt merges configured grains over the detected ones), so map.jinja gets that family's
facts from kdump.facts. Pillar comes from the files the docs point users at (pillar.example, tests/pillar/).
"""

import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml
from saltfactories.utils.functional import Loaders

from kdumplib import osfamily

REPO = pathlib.Path(__file__).resolve().parents[2]
PILLARS = REPO / "tests" / "pillar"
VALIDATED = ("kdump", "kdump-validated")

def load_pillar(name):
    with open(PILLARS / name, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def family_opts(salt_factories, tmp_path_factory):
    """Minion opts per os_family (static grains), all reading the formula from the repo."""
    opts = {}
    for family in ("RedHat", "Debian", "Suse", "Windows"):
        root = tmp_path_factory.mktemp(f"root-{family}")
        (root / "proc").mkdir()
        (root / "proc/meminfo").write_text("MemTotal:        2017196 kB\n")
        factory = salt_factories.salt_minion_daemon(
            f"kdump-render-{family.lower()}",
            overrides={
                "file_client": "local",
                "file_roots": {"base": [str(REPO / "salt")]},
                "module_dirs": [str(REPO / "_modules")],
                "states_dirs": [str(REPO / "_states")],
                "utils_dirs": [str(REPO / "_utils")],
                "grains": {"os_family": family},
                "kdump_root": str(root),
            },
        )
        opts[family] = factory.config.copy()
    return opts


@pytest.fixture
def render(family_opts):
    """render(family, sls, pillar) -> {state id: (module, function, {argument: value})}."""
    made = []

    def _render(family, sls, pillar):
        loaders = Loaders(dict(family_opts[family]))
        made.append(loaders)
        assert loaders.grains["os_family"] == family
        high = loaders.modules.state.show_sls(sls, pillar=pillar)
        if isinstance(high, list):  # render errors
            return high
        states = {}
        for state_id, body in high.items():
            modules = [key for key in body if not key.startswith("__")]
            assert len(modules) == 1, (state_id, body)
            module = modules[0]
            function = next(item for item in body[module] if isinstance(item, str))
            args = {}
            for item in body[module]:
                if isinstance(item, dict):
                    args.update(item)
            states[state_id] = (module, function, args)
        return states

    yield _render
    for loaders in made:
        loaders.reset_state()


def requisites(args, kind="require"):
    return [next(iter(item.items())) for item in args.get(kind, [])]


def assert_validated_first(states, pillar_kdump):
    module, function, args = states["kdump-validated"]
    assert (module, function) == ("kdump", "validated")
    assert args["config"] == pillar_kdump
    assert "require" not in args and "watch" not in args
    others = [state_id for state_id in states if state_id != "kdump-validated"]
    assert others
    for state_id in others:
        assert VALIDATED in requisites(states[state_id][2]), state_id


@pytest.mark.parametrize("family", ["RedHat", "Debian", "Suse"])
def test_example_pillar_renders_for_each_family(render, family, family_opts):
    """pillar.example as it is, on every family: the same states, the family's names."""
    pillar = load_pillar("example.sls")
    states = render(family, "kdump", pillar)
    facts = osfamily.OS_FAMILIES[family]  # the one owner of the OS facts
    root = family_opts[family]["kdump_root"]
    starts_unreserved = facts["service_starts_unreserved"]
    sets_panic_on_oops = facts["service_sets_panic_on_oops"]

    assert_validated_first(states, pillar["kdump"])
    assert set(states) == {
        "kdump-validated",
        "kdump-package",
        "kdump-dump-target",
        "kdump-space-checked",
        "kdump-crashkernel",
        "kdump-config",
        "kdump-sysctl-saved",
        "kdump-sysctl-kernel.panic",
        "kdump-sysctl-kernel.panic_on_oops",
        "kdump-service",
        "kdump-ready",
        "kdump-retention",
    } | ({"kdump-sysctl-after-service"} if sets_panic_on_oops else set()) | (
        set() if starts_unreserved else {"kdump-service-running"})

    # A volume is managed: the LVM tools come with the packages, and the modules are reloaded
    # so that Salt's lvm module is there for the dump target.
    module, function, args = states["kdump-package"]
    assert (module, function) == ("pkg", "installed")
    assert args["pkgs"] == facts["pkgs"] + facts["lvm_pkgs"]
    assert args["reload_modules"] is True

    module, function, args = states["kdump-dump-target"]
    assert (module, function) == ("kdump", "dump_target")
    assert {key: args[key] for key in ("vg", "lv", "size", "fstype", "mountpoint")} == {
        "vg": "rootvg",
        "lv": "crashlv",
        "size": "auto",
        "fstype": "ext4",
        "mountpoint": "/var/crash",
    }
    assert args["mount_at_boot"] is True
    # size auto holds the dumps retention keeps (pillar.example: 3) and the next crash's
    assert args["dumps"] == 4
    assert args["pillar_key"] == "kdump:volume"
    assert ("pkg", "kdump-package") in requisites(args)

    module, function, args = states["kdump-space-checked"]
    assert (module, function, args["path"]) == ("kdump", "space_checked", "/var/crash")
    assert ("kdump", "kdump-dump-target") in requisites(args)

    module, function, args = states["kdump-crashkernel"]
    assert (module, function) == ("crashkernel", "configured")
    assert args["name"] == "auto"
    assert args["require_reboot"] == "warn"
    assert (args["manage"], args["low"], args["scope"]) == (True, None, "all")
    assert ("pkg", "kdump-package") in requisites(args)

    module, function, args = states["kdump-config"]
    assert (module, function) == ("kdump", "configured")
    assert args["name"] == facts["config_file"]
    settings = args["settings"]
    assert settings["target"]["type"] == "local" and settings["target"]["path"] == "/var/crash"
    assert settings["collector"] == {"dump_level": 31, "compression": "zlib", "extra_args": ""}
    assert settings["failure_action"] == "reboot"
    assert ("kdump", "kdump-dump-target") in requisites(args)
    assert requisites(args, "watch") == [("pkg", "kdump-package")]

    for key, value in (("kernel.panic", 180), ("kernel.panic_on_oops", 0)):
        module, function, args = states[f"kdump-sysctl-{key}"]
        assert (module, function) == ("sysctl", "present")
        assert (args["name"], args["value"]) == (key, value)
        assert args["config"] == f"{root}/etc/sysctl.d/zz-kdump-formula.conf"
        assert args["order"] == "last"

    module, function, args = states["kdump-sysctl-saved"]
    assert (module, function) == ("file", "managed")
    assert args["name"] == f"{root}/var/lib/kdump-formula/sysctl-before.conf"
    assert args["replace"] is False
    assert [line.split(" = ")[0] for line in args["contents"].splitlines()[1:]] == [
        "kernel.panic", "kernel.panic_on_oops"
    ]
    if sets_panic_on_oops:
        module, function, args = states["kdump-sysctl-after-service"]
        assert (module, function) == ("file", "managed")
        assert args["name"] == (
            f"{root}/etc/systemd/system/{facts['service']}.service.d/zz-kdump-formula-sysctl.conf"
        )
        assert "ExecStartPost=-sysctl -q -p /etc/sysctl.d/zz-kdump-formula.conf" in args["contents"]

    module, function, args = states["kdump-service"]
    assert ("kdump", "kdump-config") in requisites(args)
    if starts_unreserved:
        # one state: enabled at boot and started now (the reservation is not needed to start)
        assert (module, function, args["name"], args["enable"]) == ("service", "running", facts["service"], True)
        assert "onlyif" not in args
        running = args
    else:
        assert (module, function, args["name"]) == ("service", "enabled", facts["service"])
        module, function, running = states["kdump-service-running"]
        assert (module, function, running["name"]) == ("service", "running", facts["service"])
        assert ("service", "kdump-service") in requisites(running)
        assert running["onlyif"] == [{"fun": "crashkernel.get", "get_return": "reserved_bytes"}]
    assert ("crashkernel", "kdump-crashkernel") in requisites(running)
    if sets_panic_on_oops:
        assert ("file", "kdump-sysctl-after-service") in requisites(running)

    module, function, args = states["kdump-ready"]
    assert (module, function) == ("kdump", "ready")
    assert args["require_reboot"] == "warn"
    assert args["service_starts_unreserved"] is starts_unreserved
    assert set(requisites(args)) == {
        VALIDATED,
        ("service", "kdump-service"),
        ("crashkernel", "kdump-crashkernel"),
        ("kdump", "kdump-config"),
        ("kdump", "kdump-space-checked"),
    } | (set() if starts_unreserved else {("service", "kdump-service-running")})

    module, function, args = states["kdump-retention"]
    assert (module, function, args["name"], args["keep"]) == ("vmcore", "retained", "/var/crash", 3)


def test_rhel_seed_renders_on_redhat(render):
    """pillar.example's commented-out RHEL seed: the LV that kdump mounts itself."""
    pillar = load_pillar("rhel-seed.sls")
    states = render("RedHat", "kdump", pillar)
    assert_validated_first(states, pillar["kdump"])
    args = states["kdump-dump-target"][2]
    assert (args["size"], args["fstype"], args["mount_at_boot"]) == ("1000M", "ext3", False)
    assert states["kdump-crashkernel"][2]["name"] == "128M@16M"
    settings = states["kdump-config"][2]["settings"]
    assert settings["target"]["device"] == "/dev/mapper/rootvg-crashlv"
    assert settings["collector"]["dump_level"] == 20
    # kdump mounts the LV only while saving: nothing local to measure or prune.
    assert not {"kdump-space-checked", "kdump-retention"} & set(states)


def test_sysctl_file_sorts_after_the_distributions_files():
    """systemd-sysctl applies the sysctl.d files of /etc, /run and /usr/lib in the order of
    their file names (C locale), a later value of a key winning. The formula's file must come
    after what the distributions and the kdump packages ship (kdump-tools 1:1.8.1 and
    1:1.10.7 ship no sysctl.d file: they write kernel.panic_on_oops=1 at load time instead,
    see salt/kdump/sysctl.sls), including 99-sysctl.conf (/etc/sysctl.conf)."""
    sysctl_file = yaml.safe_load((REPO / "salt/kdump/defaults.yaml").read_text())["kdump"]["sysctl_file"]
    ours = pathlib.PurePosixPath(sysctl_file).name
    shipped = [
        "10-console-messages.conf", "10-kernel-hardening.conf", "10-ptrace.conf",  # Ubuntu procps
        "50-coredump.conf", "50-default.conf", "50-pid-max.conf",  # systemd (all families)
        "90-kdump-formula.conf",  # the name older kdump-formula releases used
        "99-sysctl.conf",  # the symlink to /etc/sysctl.conf (Debian, RedHat, Suse)
    ]
    order = sorted(shipped + [ours], key=lambda name: name.encode())
    assert order[-1] == ours, order
    assert ours.endswith(".conf")


def test_modern_pillar_ssh_target_auto_sizing(render):
    pillar = load_pillar("modern.sls")
    states = render("RedHat", "kdump", pillar)

    assert_validated_first(states, pillar["kdump"])
    # No volume, and dumps leave the host: no dump target, space check or retention.
    assert not {"kdump-dump-target", "kdump-space-checked", "kdump-retention"} & set(states)
    assert states["kdump-crashkernel"][2]["name"] == "auto"
    target = states["kdump-config"][2]["settings"]["target"]
    assert target["type"] == "ssh"
    assert (target["host"], target["user"]) == ("dumps.example.com", "kdump")
    assert states["kdump-config"][2]["settings"]["collector"]["compression"] == "lzo"
    sysctls = {
        args["name"]: args["value"]
        for module, function, args in states.values()
        if (module, function) == ("sysctl", "present")
    }
    assert sysctls == {"kernel.panic": 10, "kernel.panic_on_oops": 1, "kernel.sysrq": 1}
    assert ("kdump", "kdump-space-checked") not in requisites(states["kdump-ready"][2])
    # The ssh target's key is made (rebuilding the initrd when it is); no host key source in
    # this pillar, so nothing is pinned (kdump.status says ssh_host_unknown until it is).
    module, function, args = states["kdump-ssh-key"]
    assert (module, function, args["name"], args["key_type"]) == (
        "kdump_ssh", "key_present", "/root/.ssh/kdump_id_ed25519", "auto")
    assert requisites(args) == [("kdump", "kdump-validated")]
    assert ("kdump_ssh", "kdump-ssh-key") in requisites(states["kdump-config"][2], "watch")
    assert "kdump-ssh-known-host" not in states


def test_ssh_host_key_from_pillar_is_pinned_in_known_hosts(render):
    pillar = load_pillar("modern.sls")
    host_key = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl "
                "root@dumps")
    pillar["kdump"]["ssh"] = {"host_key": host_key, "port": 2222}
    states = render("Debian", "kdump", pillar)
    module, function, args = states["kdump-ssh-known-host"]
    assert (module, function) == ("ssh_known_hosts", "present")
    assert (args["name"], args["enc"], args["key"], args["port"]) == (
        "dumps.example.com", "ssh-ed25519", host_key.split()[1], 2222)
    assert args["config"].endswith("/root/.ssh/known_hosts") and args["hash_known_hosts"] is False
    assert ("ssh_known_hosts", "kdump-ssh-known-host") in requisites(states["kdump-config"][2], "watch")


def test_ssh_states_are_absent_for_other_targets(render):
    states = render("Debian", "kdump", {})
    assert not {"kdump-ssh-key", "kdump-ssh-known-host"} & set(states)


def test_defaults_apply_without_pillar(render):
    states = render("Debian", "kdump", {})
    assert_validated_first(states, {})
    assert states["kdump-crashkernel"][2]["name"] == "auto"
    assert "kdump-dump-target" not in states
    # Default local target: space checked on the default path, the 3 newest dumps kept.
    assert states["kdump-space-checked"][2]["path"] == "/var/crash"
    assert states["kdump-retention"][2]["keep"] == 3
    assert ("kdump", "kdump-space-checked") in requisites(states["kdump-ready"][2])
    settings = states["kdump-config"][2]["settings"]
    assert settings["target"]["type"] == "local"
    assert settings["collector"]["dump_level"] == 31
    assert states["kdump-sysctl-kernel.panic"][2]["value"] == 180


def test_volume_defaults_and_retention(render):
    pillar = {
        "kdump": {
            "volume": {"vg": "vg0", "lv": "dumps"},
            "settings": {"target": {"path": "/srv/crash"}},
            "retention": {"keep": 3},
            # null: a default the site manages elsewhere is left alone.
            "sysctl": {"kernel.panic": 30, "kernel.hung_task_panic": 1, "kernel.panic_on_oops": None},
        }
    }
    states = render("Suse", "kdump", pillar)
    assert_validated_first(states, pillar["kdump"])
    args = states["kdump-dump-target"][2]
    assert (args["size"], args["fstype"], args["mountpoint"], args["mount_at_boot"]) == (
        "auto",
        "ext4",
        "/srv/crash",
        False,
    )
    module, function, args = states["kdump-retention"]
    assert (module, function, args["name"], args["keep"]) == ("vmcore", "retained", "/srv/crash", 3)
    assert ("kdump", "kdump-config") in requisites(args)
    sysctls = {
        args["name"]: args["value"]
        for module, function, args in states.values()
        if (module, function) == ("sysctl", "present")
    }
    assert sysctls == {"kernel.panic": 30, "kernel.hung_task_panic": 1}


def test_space_checked_on_a_dump_volume_mounted_at_boot(render):
    pillar = load_pillar("rhel-seed.sls")
    pillar["kdump"]["volume"]["mount_at_boot"] = True
    pillar["kdump"]["volume"]["mountpoint"] = "/srv/dumps"
    states = render("RedHat", "kdump", pillar)
    module, function, args = states["kdump-space-checked"]
    # kdump.conf's path is inside the device: RedHat's dumps land in <mountpoint>/<path>.
    assert (module, function, args["path"]) == ("kdump", "space_checked", "/srv/dumps/var/crash")
    assert ("kdump", "kdump-dump-target") in requisites(args)
    assert ("kdump", "kdump-config") in requisites(args)
    assert ("kdump", "kdump-space-checked") in requisites(states["kdump-ready"][2])
    # The seed keeps every dump (retention: keep: null).
    assert "kdump-retention" not in states


def test_lookup_overrides_the_family_facts(render, family_opts):
    pillar = {"kdump": {"lookup": {"pkgs": ["kexec-tools-custom"], "service": "kdump-custom",
                                   "config_file": "/etc/kdump-custom.conf",
                                   "sysctl_file": "/etc/sysctl.d/zz-custom.conf"}}}
    states = render("Debian", "kdump", pillar)
    assert states["kdump-package"][2]["pkgs"] == ["kexec-tools-custom"]
    assert states["kdump-service"][2]["name"] == "kdump-custom"
    assert states["kdump-config"][2]["name"] == "/etc/kdump-custom.conf"
    root = family_opts["Debian"]["kdump_root"]
    assert states["kdump-sysctl-kernel.panic"][2]["config"] == f"{root}/etc/sysctl.d/zz-custom.conf"
    # clean.sls undoes the same file and service the modules act on.
    clean = render("Debian", "kdump.clean", pillar)
    assert clean["kdump-clean-service-dead"][2]["name"] == "kdump-custom"
    names = [args.get("name") for _module, _function, args in clean.values()]
    assert any("/etc/kdump-custom.conf" in str(name) for name in names), clean
    assert not any("/etc/default/kdump-tools" in str(name) for name in names), clean


def test_bad_lookup_renders_with_the_family_facts_behind_validation(render):
    pillar = {"kdump": {"lookup": {"config_file": "etc/relative", "service": "kdump-custom"}}}
    states = render("RedHat", "kdump", pillar)
    assert_validated_first(states, pillar["kdump"])
    assert states["kdump-config"][2]["name"] == "/etc/kdump.conf"
    assert states["kdump-service"][2]["name"] == "kdump-custom"


def test_disabled_stops_the_service_instead(render):
    states = render("RedHat", "kdump", {"kdump": {"enabled": False}})
    assert_validated_first(states, {"enabled": False})
    assert "kdump-ready" not in states and "kdump-service" not in states
    assert states["kdump-service-dead"][:2] == ("service", "dead")
    assert states["kdump-service-disabled"][:2] == ("service", "disabled")
    assert ("service", "kdump-service-dead") in requisites(states["kdump-service-disabled"][2])


def test_bad_pillar_still_renders_behind_validation(render):
    pillar = load_pillar("bad.sls")
    states = render("Debian", "kdump", pillar)
    # The raw pillar goes to the validation state untouched, and nothing can run before it.
    assert_validated_first(states, pillar["kdump"])
    # Wrong-typed sections fall back to their defaults in the rendered states.
    assert states["kdump-crashkernel"][2]["name"] == "auto"
    assert "kdump-dump-target" not in states
    assert states["kdump-config"][2]["settings"]["target"]["type"] == "local"


def test_unsupported_os_family_fails_to_render(render):
    errors = render("Windows", "kdump", {})
    assert isinstance(errors, list)
    assert any("os_family: 'Windows' is not supported (supported: RedHat, Debian, Suse)" in error
               for error in errors), errors


def test_clean_keeps_the_volume_by_default(render, family_opts):
    states = render("Debian", "kdump.clean", load_pillar("example.sls"))
    root = family_opts["Debian"]["kdump_root"]
    assert states["kdump-clean-crashkernel"][:2] == ("crashkernel", "absent")
    assert states["kdump-clean-service-dead"][2]["name"] == "kdump-tools"
    assert states["kdump-clean-service-disabled"][:2] == ("service", "disabled")
    # Nothing of the formula's config to undo on this root (no .orig, no .created marker).
    assert "kdump-clean-config" not in states
    assert states["kdump-clean-config.kdump-formula.bak"][2]["name"] == (
        f"{root}/etc/default/kdump-tools.kdump-formula.bak"
    )
    assert states["kdump-clean-crashkernel"][2]["restore"] is True
    assert states["kdump-clean-sysctl-file"][2]["name"] == (
        f"{root}/etc/sysctl.d/zz-kdump-formula.conf"
    )
    assert not any(module in ("lvm", "mount") for module, _, _ in states.values())


def test_crashkernel_not_managed_scope_and_pair_render(render):
    pillar = load_pillar("example.sls")
    pillar["kdump"]["crashkernel"] = {"value": "512M,high", "low": "256M", "default_entry_only": True}
    module, function, args = render("RedHat", "kdump", pillar)["kdump-crashkernel"]
    assert (module, function) == ("crashkernel", "configured")
    assert (args["name"], args["low"], args["scope"], args["manage"]) == ("512M,high", "256M", "default", True)
    pillar["kdump"]["crashkernel"] = {"manage": False}
    assert render("Debian", "kdump", pillar)["kdump-crashkernel"][2]["manage"] is False
    # clean leaves a boot loader the formula does not manage alone
    cleaned = render("Debian", "kdump.clean", pillar)
    assert "kdump-clean-crashkernel" not in cleaned and "kdump-clean-service-dead" in cleaned


def test_clean_purges_the_volume_only_when_asked(render, family_opts):
    pillar = load_pillar("example.sls")
    pillar["kdump"]["purge_target"] = True
    states = render("RedHat", "kdump.clean", pillar)
    root = family_opts["RedHat"]["kdump_root"]
    module, function, args = states["kdump-clean-target-unmounted"]
    assert (module, function) == ("mount", "unmounted")
    assert (args["name"], args["device"], args["persist"]) == (
        "/var/crash",
        "/dev/rootvg/crashlv",
        True,
    )
    assert args["config"] == f"{root}/etc/fstab"
    assert set(requisites(args)) == {VALIDATED, ("service", "kdump-clean-service-dead")}
    module, function, args = states["kdump-clean-target-lv-absent"]
    assert (module, function, args["name"], args["vgname"]) == (
        "lvm",
        "lv_absent",
        "crashlv",
        "rootvg",
    )
    assert set(requisites(args)) == {VALIDATED, ("mount", "kdump-clean-target-unmounted")}


def _tool(name):
    path = pathlib.Path(sys.executable).parent / name
    return str(path) if path.exists() else shutil.which(name)


def test_salt_lint_clean():
    sls_files = sorted(str(path) for path in (REPO / "salt").rglob("*.sls"))
    assert sls_files
    tool = _tool("salt-lint")
    assert tool, "salt-lint is in requirements.txt"
    result = subprocess.run([tool, *sls_files], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint_clean():
    files = [
        REPO / "pillar.example",
        *sorted((REPO / "salt" / "kdump").rglob("*.yaml")),
        *sorted(PILLARS.glob("*.sls")),
    ]
    tool = _tool("yamllint")
    assert tool, "yamllint is in requirements.txt"
    result = subprocess.run(
        [tool, "-s", *map(str, files)], capture_output=True, text=True, check=False, cwd=REPO
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("family", ["RedHat", "Debian", "Suse"])
@pytest.mark.parametrize("pillar_file", ["example.sls", "modern.sls"])
def test_shipped_pillars_pass_validation(family_opts, family, pillar_file):
    """What kdump-validated will say about the pillars the docs hand out, as they are: valid
    on every family."""
    given = load_pillar(pillar_file)["kdump"]
    loaders = Loaders(dict(family_opts[family]))
    try:
        normalized = loaders.modules.kdump.validate_pillar(given)
    finally:
        loaders.reset_state()
    assert normalized["settings"]["target"]["type"] == given["settings"]["target"]["type"]
    assert normalized["crashkernel"]["value"] == given["crashkernel"]["value"]
    assert normalized["sysctl"] == given["sysctl"]


def test_rhel_seed_passes_validation_on_redhat(family_opts):
    loaders = Loaders(dict(family_opts["RedHat"]))
    try:
        normalized = loaders.modules.kdump.validate_pillar(load_pillar("rhel-seed.sls")["kdump"])
    finally:
        loaders.reset_state()
    assert normalized["volume"]["size"] == "1000M"


def validation_error(opts, pillar_file):
    """The exception kdump.validate_pillar raises for a shipped pillar file on ``opts``."""
    loaders = Loaders(dict(opts))
    try:
        with pytest.raises(Exception) as error:
            loaders.modules.kdump.validate_pillar(load_pillar(pillar_file)["kdump"])
    finally:
        loaders.reset_state()
    return error.value


def test_rhel_seed_on_debian_needs_the_volume_mounted_at_boot(family_opts):
    """kdump-tools mounts nothing: the seed's device target, left for kdump to mount, would
    put the dump on the root filesystem. Refused, naming the key."""
    error = validation_error(family_opts["Debian"], "rhel-seed.sls")
    assert type(error).__name__ == "SaltInvocationError"
    assert str(error).startswith("kdump:volume:mount_at_boot: on Debian")


def test_bad_pillar_fails_validation_naming_the_key(family_opts):
    error = validation_error(family_opts["Debian"], "bad.sls")
    assert type(error).__name__ == "SaltInvocationError"
    assert str(error).startswith("kdump:")


@pytest.mark.parametrize("block, pillar_file", [
    ("# (same content as tests/pillar/modern.sls):", "modern.sls"),
    ("# in place of the block above (same content as tests/pillar/rhel-seed.sls):", "rhel-seed.sls"),
])
def test_pillar_example_commented_blocks_match_tests_pillar(block, pillar_file):
    text = (REPO / "pillar.example").read_text(encoding="utf-8")
    body = text.split(block, 1)[1].split("\n\n", 1)[0]  # up to the next blank line
    lines = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in body.splitlines()]
    assert yaml.safe_load("\n".join(lines)) == load_pillar(pillar_file)
