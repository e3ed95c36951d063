//! The binaries against fixture trees shaped like a real mlx5 host (SRIOV_OFFLOAD_ROOT).
//! Proves config handling, observation, planning (golden plans), refusals and markers; the
//! kernel's side of the writes is proven on the VM test bed (tests/vm).

mod common;

use assert_cmd::Command;
use common::{golden, Fixture, Pf};

const TWO_PF_SWITCHDEV: &str = r#"
[defaults]
timeout = "2s"

[[pf]]
match = { name = "ens1f0" }
vfs = 32
eswitch = "switchdev"
bind = "mlx5_core"
reserved_vfs = [0]

[[pf]]
match = { pci = "0000:3b:00.1" }
vfs = 32
eswitch = "switchdev"
bind = "mlx5_core"

[boot]
legacy_marker = "/tmp/vf_done.offload"
"#;

fn cmd(bin: &str, f: &Fixture) -> Command {
    let mut c = Command::cargo_bin(bin).unwrap();
    c.env("SRIOV_OFFLOAD_ROOT", f.root())
        .env_remove("IFACE")
        .env_remove("INVOCATION_ID");
    c
}

fn fresh_two_pf() -> Fixture {
    let f = Fixture::new();
    f.add_pf(&Pf::new("ens1f0", "0000:3b:00.0"));
    f.add_pf(&Pf::new("ens1f1", "0000:3b:00.1"));
    f.config(TWO_PF_SWITCHDEV);
    f
}

fn configured_two_pf(vf_up: bool) -> Fixture {
    let f = Fixture::new();
    for (n, p) in [("ens1f0", "0000:3b:00.0"), ("ens1f1", "0000:3b:00.1")] {
        f.add_pf(&Pf {
            numvfs: 32,
            switchdev: true,
            vf_driver: Some("mlx5_core"),
            vf_up,
            ..Pf::new(n, p)
        });
    }
    f.config(TWO_PF_SWITCHDEV);
    f
}

#[test]
fn fresh_host_plans_the_seed_sequence_for_both_pfs() {
    let f = fresh_two_pf();
    let before = f.snapshot();
    let out = cmd("vf-post", &f).arg("--dry-run").assert().success();
    golden(
        "fresh-two-pf.post.plan",
        &String::from_utf8_lossy(&out.get_output().stdout),
    );
    let out = cmd("vf-pre", &f).arg("--dry-run").assert().success();
    golden(
        "fresh-two-pf.pre.plan",
        &String::from_utf8_lossy(&out.get_output().stdout),
    );
    assert_eq!(before, f.snapshot(), "--dry-run wrote to the tree");
}

#[test]
fn configured_host_plans_nothing_and_publishes_map_and_marker() {
    let f = configured_two_pf(true);
    cmd("vf-post", &f)
        .arg("--dry-run")
        .assert()
        .success()
        .stdout("nothing to do\n");
    cmd("vf-post", &f).assert().success();
    let ready = f.read("run/sriov-offload/ready");
    assert!(
        ready.contains("5f1c1f7e-0d7b-4b5e-9a55-0c1e6f1e2a01"),
        "{ready}"
    );
    let map: serde_json::Value =
        serde_json::from_str(&f.read("run/sriov-offload/vf-map.json")).unwrap();
    let map = map.as_array().unwrap();
    assert_eq!(map.len(), 64);
    assert_eq!(map[0]["representor"], "ens1f0_0");
    assert_eq!(map[0]["reserved"], true);
    assert_eq!(map[33]["pf"], "ens1f1");
    assert_eq!(map[33]["representor"], "ens1f1_1");
    assert_eq!(map[33]["pci"], "0000:3b:08.3");
    assert!(f.path("tmp/vf_done.offload").exists());
    // a second run changes nothing
    let before = f.snapshot();
    cmd("vf-post", &f).assert().success();
    cmd("vf-pre", &f).assert().success();
    assert_eq!(before, f.snapshot());
}

#[test]
fn rerun_with_vfs_in_use_and_a_new_count_refuses_naming_them() {
    let f = configured_two_pf(true);
    let cfg = TWO_PF_SWITCHDEV.replacen("vfs = 32", "vfs = 16", 1);
    f.config(&cfg);
    let out = cmd("vf-pre", &f).arg("ens1f0").assert().code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("ens1f0: changing sriov_numvfs from 32 to 16 would reset VFs in use"),
        "{err}"
    );
    assert!(err.contains("VF 0 netdev ens1f0v0 is up"), "{err}");
    assert_eq!(
        f.read("sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0/sriov_numvfs"),
        "32\n"
    );
    let failed = f.read("run/sriov-offload/failed");
    assert!(failed.contains("would reset VFs in use"), "{failed}");
    assert!(!f.path("run/sriov-offload/ready").exists());
}

#[test]
fn interface_not_in_config_is_silently_ignored() {
    let f = fresh_two_pf();
    let before = f.snapshot();
    cmd("vf-pre", &f).arg("eth9").assert().success().stderr("");
    cmd("vf-post", &f)
        .env("IFACE", "lo")
        .assert()
        .success()
        .stderr("");
    assert_eq!(before, f.snapshot());
}

#[test]
fn bond_of_configured_pfs_selects_both_slaves() {
    let f = fresh_two_pf();
    f.config(&format!(
        "{TWO_PF_SWITCHDEV}\n[[bond]]\nname = \"bond0\"\nslaves = [\"ens1f0\", \"ens1f1\"]\n"
    ));
    let out = cmd("vf-pre", &f)
        .env("IFACE", "bond0")
        .arg("--dry-run")
        .assert()
        .success();
    let s = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        s.contains("ens1f0: set sriov_numvfs to 32")
            && s.contains("ens1f1: set sriov_numvfs to 32"),
        "{s}"
    );
}

#[test]
fn fresh_host_applies_pre_writes_in_order() {
    let f = fresh_two_pf();
    cmd("vf-pre", &f).arg("ens1f0").assert().success();
    let d = "sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0";
    assert_eq!(f.read(&format!("{d}/sriov_numvfs")), "32");
    assert_eq!(f.read(&format!("{d}/sriov_drivers_autoprobe")), "0");
    // the other PF is untouched
    assert_eq!(
        f.read("sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.1/sriov_numvfs"),
        "0\n"
    );
}

#[test]
fn legacy_eswitch_is_switched_through_compat_sysfs_and_representors_waited_for() {
    // VFs exist and are bound but idle; the eswitch is legacy: unbind, switch, wait, rebind.
    let f = Fixture::new();
    f.add_pf(&Pf {
        numvfs: 2,
        vf_driver: Some("mlx5_core"),
        ..Pf::new("ens1f0", "0000:3b:00.0")
    });
    f.config("[defaults]\ntimeout = \"1s\"\n[[pf]]\nmatch = { name = \"ens1f0\" }\nvfs = 2\neswitch = \"switchdev\"\nbind = \"mlx5_core\"\n");
    let out = cmd("vf-post", &f).arg("--dry-run").assert().success();
    golden(
        "legacy-to-switchdev.plan",
        &String::from_utf8_lossy(&out.get_output().stdout),
    );
    // applied on a tree (no kernel to create representors), the wait times out naming them
    let out = cmd("vf-post", &f).assert().code(3);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("representors of ens1f0")
            && err.contains("representor of VF 0, representor of VF 1"),
        "{err}"
    );
    let d = "sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0";
    assert_eq!(
        f.read(&format!("{d}/net/ens1f0/compat/devlink/mode")),
        "switchdev"
    );
    assert_eq!(
        f.read("sys/bus/pci/drivers/mlx5_core/unbind"),
        "0000:3b:00.3"
    );
    // nothing was waited for on a tree: the message says so instead of "timed out after 0.0s"
    let failed = f.read("run/sriov-offload/failed");
    assert!(
        failed.contains("no kernel event can bring it: not waited for")
            && !failed.contains("timed out"),
        "{failed}"
    );
}

#[test]
fn bond_with_ib_guids_waits_for_lag_and_sets_auto_guids() {
    let f = Fixture::new();
    for (n, p) in [("ens1f0", "0000:3b:00.0"), ("ens1f1", "0000:3b:00.1")] {
        f.add_pf(&Pf {
            numvfs: 2,
            switchdev: true,
            master: Some("bond0"),
            autoprobe: false,
            ..Pf::new(n, p)
        });
    }
    f.add_ib_bond("0000:3b:00.0", 2, "disabled");
    f.add_guid_files("0000:3b:00.1", 2);
    f.set_lag_state("0000:3b:00.1", "disabled");
    let cfg = "[defaults]\ntimeout = \"1s\"\n\
        [[pf]]\nmatch = { name = \"ens1f0\" }\nvfs = 2\neswitch = \"switchdev\"\nbind = \"mlx5_core\"\n\
        [[pf]]\nmatch = { name = \"ens1f1\" }\nvfs = 2\neswitch = \"switchdev\"\nbind = \"mlx5_core\"\n\
        [[bond]]\nname = \"bond0\"\nslaves = [\"ens1f0\", \"ens1f1\"]\nvf_lag = true\n\
        ib = { device = \"mlx5_bond_0\", node_guids = \"auto\" }\n";
    f.config(cfg);
    let out = cmd("vf-post", &f)
        .arg("ens1f0")
        .arg("--dry-run")
        .assert()
        .success();
    golden(
        "bond-ib.plan",
        &String::from_utf8_lossy(&out.get_output().stdout),
    );
    let out = cmd("vf-post", &f).arg("bond0").assert().code(3);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("VF LAG of bond0") && err.contains("lag/state reads \"disabled\""),
        "{err}"
    );
}

#[test]
fn wait_offload_exit_codes() {
    let f = Fixture::new();
    cmd("wait-offload", &f)
        .args(["--timeout", "50ms"])
        .assert()
        .code(3);
    let f2 = configured_two_pf(false);
    cmd("vf-post", &f2).assert().success();
    cmd("wait-offload", &f2)
        .args(["--timeout", "1s"])
        .assert()
        .success();
    cmd("wait-offload", &f2)
        .args(["--timeout", "1s", "--pf", "ens1f1"])
        .assert()
        .success();
    let out = cmd("wait-offload", &f2)
        .args(["--timeout", "50ms", "--pf", "ens9f0"])
        .assert()
        .code(3);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("run/sriov-offload/pf/ens9f0 did not say ready"),
        "{err}"
    );
    // a marker from another boot is not ready
    std::fs::write(f2.path("proc/sys/kernel/random/boot_id"), "another-boot\n").unwrap();
    cmd("wait-offload", &f2)
        .args(["--timeout", "50ms"])
        .assert()
        .code(3);
}

#[test]
fn config_error_exits_2_with_position_and_writes_nothing() {
    let f = fresh_two_pf();
    f.config("[[pf]]\nmatch = { name = \"ens1f0\" }\nvfs = 32\neswitch = \"switchdevv\"\n");
    let before = f.snapshot();
    let out = cmd("vf-pre", &f).assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("config.toml:4:11:") && err.contains("eswitch \"switchdevv\" is not"),
        "{err}"
    );
    assert_eq!(before, f.snapshot());
}

#[test]
fn shipped_example_configs_are_valid() {
    for name in [
        "examples/config.toml",
        "examples/testbed.toml",
        "examples/ib-standalone.toml",
    ] {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
        let c = sriov_offload::config::load(&[p]).unwrap_or_else(|e| panic!("{e}"));
        assert!(!c.pfs.is_empty(), "{name}");
    }
}

#[test]
fn slave_post_up_before_enslavement_is_left_to_the_bond() {
    let f = fresh_two_pf();
    f.config(&format!(
        "{TWO_PF_SWITCHDEV}\n[[bond]]\nname = \"bond0\"\nslaves = [\"ens1f0\", \"ens1f1\"]\n"
    ));
    let before = f.snapshot();
    // ifupdown2 runs the slave's post-up before the bond exists: nothing to do yet, and the
    // message says who will do it
    cmd("vf-post", &f)
        .env("IFACE", "ens1f0")
        .assert()
        .success()
        .stderr("vf-post: ens1f0: not enslaved to bond0 yet: the post-up of bond0 does the post steps\n");
    assert_eq!(before, f.snapshot());
    // its pre-up does the pre steps
    cmd("vf-pre", &f)
        .env("IFACE", "ens1f0")
        .arg("--dry-run")
        .assert()
        .success()
        .stdout("ens1f0: set sriov_drivers_autoprobe to 0\nens1f0: set sriov_numvfs to 32\n");
}

#[test]
fn broken_config_under_systemd_writes_the_failed_marker() {
    let f = fresh_two_pf();
    f.config("[[pf]]\nmatch = { name = \"ens1f0\" }\nvfs = \"x\"\n");
    cmd("vf-post", &f)
        .env("INVOCATION_ID", "0123456789abcdef")
        .assert()
        .code(2);
    let failed = f.read("run/sriov-offload/failed");
    assert!(failed.contains("config.toml:3:7"), "{failed}");
    cmd("wait-offload", &f)
        .args(["--timeout", "1s"])
        .assert()
        .code(1);
}

#[test]
fn a_refused_change_on_a_ready_host_leaves_every_marker_as_it_was() {
    let f = configured_two_pf(true);
    cmd("vf-post", &f).assert().success();
    let ready = f.read("run/sriov-offload/ready");
    assert!(f.path("tmp/vf_done.offload").exists());
    f.config(&TWO_PF_SWITCHDEV.replacen("vfs = 32", "vfs = 16", 1));
    let out = cmd("vf-pre", &f).arg("ens1f0").assert().code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("would reset VFs in use"), "{err}");
    assert_eq!(f.read("run/sriov-offload/ready"), ready);
    assert!(!f.path("run/sriov-offload/failed").exists());
    assert!(f.path("tmp/vf_done.offload").exists());
}

const BOND_IB: &str = "[defaults]\ntimeout = \"1s\"\n\
    [[pf]]\nmatch = { name = \"ens1f0\" }\nvfs = 2\neswitch = \"switchdev\"\nbind = \"mlx5_core\"\n\
    [[pf]]\nmatch = { name = \"ens1f1\" }\nvfs = 2\neswitch = \"switchdev\"\nbind = \"mlx5_core\"\n\
    [[bond]]\nname = \"bond0\"\nslaves = [\"ens1f0\", \"ens1f1\"]\nvf_lag = true\n\
    ib = { device = \"mlx5_bond_0\", node_guids = \"auto\" }\n";

/// Two PFs of one ConnectX in bond0 with VF LAG up and their VFs bound but idle, with or
/// without MLNX_OFED's GUID files on the second PF.
fn bond_ib_host(second_pf_guid_files: bool) -> Fixture {
    let f = Fixture::new();
    for (n, p) in [("ens1f0", "0000:3b:00.0"), ("ens1f1", "0000:3b:00.1")] {
        f.add_pf(&Pf {
            numvfs: 2,
            switchdev: true,
            master: Some("bond0"),
            vf_driver: Some("mlx5_core"),
            ..Pf::new(n, p)
        });
    }
    f.add_ib_bond("0000:3b:00.0", 2, "active");
    f.set_lag_state("0000:3b:00.1", "active");
    if second_pf_guid_files {
        f.add_guid_files("0000:3b:00.1", 2);
    }
    f.config(BOND_IB);
    f
}

#[test]
fn each_vf_guid_goes_to_its_own_pf_and_auto_guids_differ_per_pf() {
    // seed 000 wrote every GUID to `mlx5_bond_0/device/sriov/N`, i.e. the first PF's VFs,
    // and with two PFs each overwrote the other's: this never converged
    let f = bond_ib_host(true);
    cmd("vf-post", &f).arg("bond0").assert().success();
    let guid = |pci: &str, vf: u32, kind: &str| {
        f.read(&format!(
            "sys/devices/pci0000:3a/0000:3a:00.0/{pci}/sriov/{vf}/{kind}"
        ))
    };
    let mut all = std::collections::BTreeSet::new();
    for pci in ["0000:3b:00.0", "0000:3b:00.1"] {
        for vf in 0..2 {
            let g = guid(pci, vf, "node");
            assert!(g.starts_with("02:"), "{pci} VF {vf}: {g}");
            all.insert(g);
        }
    }
    assert_eq!(all.len(), 4, "GUIDs are not distinct: {all:?}");
    assert!(f.path("run/sriov-offload/ready").exists());
    // converged: the second run plans nothing and writes nothing
    let before = f.snapshot();
    cmd("vf-post", &f)
        .arg("bond0")
        .arg("--dry-run")
        .assert()
        .success()
        .stdout("nothing to do\n");
    cmd("vf-post", &f).arg("bond0").assert().success();
    assert_eq!(before, f.snapshot());
}

#[test]
fn port_guids_on_an_ethernet_bond_are_refused_before_anything_is_written() {
    // MLNX_OFED gives an Ethernet (RoCE) port's VFs node GUIDs only: no `sriov/N/port`
    let f = bond_ib_host(true);
    f.config(&BOND_IB.replace(
        "node_guids = \"auto\"",
        "node_guids = \"auto\", port_guids = \"auto\"",
    ));
    let before = f.snapshot();
    let out = cmd("vf-post", &f).arg("bond0").assert().code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("ens1f0 is an Ethernet port: MLNX_OFED gives its VFs node GUIDs only (")
            && err.contains("0000:3b:00.0/sriov/0 has no port file next to node); port GUIDs are an InfiniBand port's: remove port_guids from its ib ("),
        "{err}"
    );
    let sys = |m: std::collections::BTreeMap<String, String>| {
        m.into_iter()
            .filter(|(k, _)| k.starts_with("sys/"))
            .collect::<Vec<_>>()
    };
    assert_eq!(sys(before), sys(f.snapshot()), "a refusal wrote to sysfs");
}

#[test]
fn a_pf_without_a_way_to_set_guids_is_refused_before_any_vf_is_unbound() {
    let f = bond_ib_host(false);
    let before = f.snapshot();
    let out = cmd("vf-post", &f).arg("bond0").assert().code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("ens1f1: cannot set the IB GUIDs of its VFs: there is no")
            && err.contains("0000:3b:00.1/sriov/0/node"),
        "{err}"
    );
    // nothing written but the run directory (the failed marker: no ready yet, as at boot)
    let outside_run = |m: std::collections::BTreeMap<String, String>| {
        m.into_iter()
            .filter(|(k, _)| !k.starts_with("run/"))
            .collect::<Vec<_>>()
    };
    let after = f.snapshot();
    assert!(after.contains_key("run/sriov-offload/failed"));
    assert!(
        outside_run(before) == outside_run(after),
        "a VF was unbound or a GUID written"
    );
}

#[test]
fn a_lag_wait_without_the_mlx5_lag_state_fails_at_once_naming_the_fix() {
    let f = bond_ib_host(true);
    for pci in ["0000:3b:00.0", "0000:3b:00.1"] {
        std::fs::remove_file(f.path(&format!("sys/kernel/debug/mlx5/{pci}/lag/state"))).unwrap();
    }
    f.config(&BOND_IB.replace("timeout = \"1s\"", "timeout = \"60s\""));
    let t0 = std::time::Instant::now();
    let out = cmd("vf-post", &f).arg("bond0").assert().code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("cannot wait for VF LAG of bond0")
            && err.contains("lag/state does not exist")
            && err.contains("set vf_lag = false"),
        "{err}"
    );
    // not a wait until the 60 s deadline for a state that cannot appear
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        t0.elapsed()
    );
}

#[test]
fn one_pf_matched_by_two_entries_is_an_error_naming_both() {
    let f = fresh_two_pf();
    f.config(&format!(
        "{TWO_PF_SWITCHDEV}\n[[pf]]\nmatch = {{ pci = \"0000:3b:00.0\" }}\nvfs = 4\n"
    ));
    for bin in ["vf-pre", "irq-tune"] {
        let out = cmd(bin, &f).assert().code(1);
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(
            err.contains("ens1f0 is matched by two [[pf]] entries: name ens1f0")
                && err.contains("pci 0000:3b:00.0"),
            "{bin}: {err}"
        );
    }
}

/// One PF (legacy, no eswitch configured) with two VFs on mlx5_core, netdevs down unless
/// `vf_up`, or on `vf_driver`.
fn one_pf_two_vfs(vf_driver: &str, vf_up: bool, config: &str) -> Fixture {
    let f = Fixture::new();
    f.add_pf(&Pf {
        numvfs: 2,
        vf_driver: Some(vf_driver),
        vf_up,
        ..Pf::new("ens1f0", "0000:3b:00.0")
    });
    f.config(&format!(
        "[defaults]\ntimeout = \"1s\"\n[[pf]]\nmatch = {{ name = \"ens1f0\" }}\nvfs = 2\nbind = \"mlx5_core\"\n{config}"
    ));
    f
}

fn stdout_of(c: &mut Command) -> String {
    String::from_utf8_lossy(&c.assert().success().get_output().stdout).into_owned()
}

#[test]
fn pf_and_vf_mtu_are_set_and_a_second_run_writes_nothing() {
    let f = one_pf_two_vfs(
        "mlx5_core",
        false,
        "mtu = 9000\nvf = { 1 = { mtu = 9000 } }\n",
    );
    assert_eq!(
        stdout_of(cmd("vf-pre", &f).arg("--dry-run")),
        "ens1f0: set MTU 9000 (now 1500)\n"
    );
    assert_eq!(
        stdout_of(cmd("vf-post", &f).arg("--dry-run")),
        "ens1f0: set MTU 9000 (now 1500)\nens1f0: set MTU 9000 on VF 1 netdev ens1f0v1\n"
    );
    cmd("vf-pre", &f).assert().success();
    cmd("vf-post", &f).assert().success();
    let d = "sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0";
    assert_eq!(f.read(&format!("{d}/net/ens1f0/mtu")), "9000");
    assert_eq!(f.read("sys/class/net/ens1f0v1/mtu"), "9000");
    assert_eq!(f.read("sys/class/net/ens1f0v0/mtu"), "1500\n");
    let before = f.snapshot();
    cmd("vf-pre", &f).assert().success();
    cmd("vf-post", &f).assert().success();
    assert_eq!(before, f.snapshot());
}

#[test]
fn a_bond_slave_pf_mtu_is_left_to_the_bond_with_a_warning_naming_it() {
    let f = Fixture::new();
    f.add_pf(&Pf {
        numvfs: 2,
        vf_driver: Some("mlx5_core"),
        master: Some("bond0"),
        ..Pf::new("ens1f0", "0000:3b:00.0")
    });
    f.config("[defaults]\ntimeout = \"1s\"\n[[pf]]\nmatch = { name = \"ens1f0\" }\nvfs = 2\nbind = \"mlx5_core\"\nmtu = 9000\n");
    let out = cmd("vf-post", &f).arg("-v").assert().success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("ens1f0 is a slave of bond0") && err.contains("set MTU 9000 on bond0"),
        "{err}"
    );
    assert_eq!(f.read("sys/class/net/ens1f0/mtu"), "1500\n");
}

#[test]
fn per_vf_bind_on_a_fresh_pf_binds_each_group_to_its_driver() {
    let f = Fixture::new();
    f.add_pf(&Pf::new("ens1f0", "0000:3b:00.0"));
    f.config("[defaults]\ntimeout = \"1s\"\n[[pf]]\nmatch = { name = \"ens1f0\" }\nvfs = 6\nbind = \"mlx5_core\"\nvf = { 1 = { bind = \"none\" }, \"3-4\" = { bind = \"vfio-pci\" } }\n");
    assert_eq!(
        stdout_of(cmd("vf-post", &f).arg("--dry-run")),
        "ens1f0: set sriov_drivers_autoprobe to 0\n\
         ens1f0: set sriov_numvfs to 6\n\
         ens1f0: bind VFs 0,2,5 to mlx5_core\n\
         ens1f0: bind VFs 3-4 to vfio-pci\n\
         ens1f0: set sriov_drivers_autoprobe to 1\n"
    );
}

#[test]
fn a_changed_bind_rebinds_an_idle_vf_and_refuses_one_in_use_naming_it() {
    let per_vf = "vf = { 1 = { bind = \"vfio-pci\" } }\n";
    let f = one_pf_two_vfs("mlx5_core", false, per_vf);
    assert_eq!(
        stdout_of(cmd("vf-post", &f).arg("--dry-run")),
        "ens1f0: unbind VF 1 from mlx5_core\nens1f0: bind VFs 1 to vfio-pci\n"
    );
    let f = one_pf_two_vfs("mlx5_core", true, per_vf);
    let before = f.snapshot();
    let out = cmd("vf-post", &f).assert().code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("VF 1 (0000:3b:00.3) is bound to mlx5_core but bind wants vfio-pci, and it is in use (VF 1 netdev ens1f0v1 is up)"),
        "{err}"
    );
    let sys = |m: std::collections::BTreeMap<String, String>| {
        m.into_iter()
            .filter(|(k, _)| k.starts_with("sys/"))
            .collect::<Vec<_>>()
    };
    assert_eq!(sys(before), sys(f.snapshot()), "a refusal wrote to sysfs");
}

#[test]
fn a_vf_on_vfio_pci_goes_to_another_driver_only_with_force_and_a_warning() {
    let f = one_pf_two_vfs("vfio-pci", false, "");
    let out = cmd("vf-post", &f).arg("--dry-run").assert().code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("VF 0 (0000:3b:00.2) is bound to vfio-pci and a guest may own it, but bind wants mlx5_core: it is not handed to another driver"),
        "{err}"
    );
    let plan = stdout_of(cmd("vf-post", &f).args(["--dry-run", "--force"]));
    assert!(
        plan.contains("ens1f0: unbind VF 0 from vfio-pci\n")
            && plan.contains("ens1f0: bind VFs 0-1 to mlx5_core\n"),
        "{plan}"
    );
    // applied with --force: the journal (stderr here) says a guest may own it
    let out = cmd("vf-post", &f).arg("--force").assert();
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("--force: VF 0 is bound to vfio-pci and a guest may own it; it is unbound and bound to mlx5_core"),
        "{err}"
    );
}

#[test]
fn unknown_interface_is_named_in_dry_run_and_under_v_only() {
    let f = configured_two_pf(false);
    let out = cmd("vf-pre", &f)
        .args(["--dry-run", "ens9f0"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        stdout.contains("ens9f0: not a configured PF or bond, nor a VF of one (")
            && stdout.contains("config.toml): nothing to do"),
        "{stdout}"
    );
    let out = cmd("vf-pre", &f).args(["-v", "ens9f0"]).assert().success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("ens9f0: not a configured PF"), "{stderr}");
    // as a hook (no -v) it stays silent: ifupdown runs it for every interface of the host
    cmd("vf-pre", &f)
        .env("IFACE", "ens9f0")
        .assert()
        .success()
        .stderr("");
}

#[test]
fn bond_slave_no_pf_resolves_to_fails_naming_it() {
    let f = Fixture::new();
    f.add_pf(&Pf::new("ens1f0", "0000:3b:00.0"));
    f.add_pf(&Pf::new("ens1f1", "0000:3b:00.1"));
    // both PFs matched by PCI: the bond's second slave is misspelt
    f.config(
        r#"
[defaults]
timeout = "2s"
[[pf]]
match = { pci = "0000:3b:00.0" }
vfs = 4
[[pf]]
match = { pci = "0000:3b:00.1" }
vfs = 4
[[bond]]
name = "bond0"
slaves = ["ens1f0", "ens1f2"]
"#,
    );
    let before = f.snapshot();
    let out = cmd("vf-pre", &f).assert().code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("bond bond0 (")
            && stderr.contains(
                "slave ens1f2 is not matched by any configured [[pf]] on this host (they are ens1f0, ens1f1): fix `slaves` or the [[pf]]'s `match`"
            ),
        "{stderr}"
    );
    let sys = |m: std::collections::BTreeMap<String, String>| {
        m.into_iter()
            .filter(|(k, _)| k.starts_with("sys/"))
            .collect::<Vec<_>>()
    };
    assert_eq!(sys(before), sys(f.snapshot()), "sysfs written");
}
