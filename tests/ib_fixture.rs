//! Standalone InfiniBand PFs (seed 004) on fixture trees shaped like its host: one ConnectX in
//! IB mode, `mlx5_0` at 0000:af:00.0, no bond, no IPoIB netdev unless a test adds one,
//! MLNX_OFED's per-PF `sriov/N/{node,port,policy}`.

mod common;

use assert_cmd::Command;
use common::{golden, Fixture, IbPf, Pf};

/// Seed 004's host "c09": one VF, policy Follow, node GUID `…:09:00`, port GUID `…:09:01`.
const SEED_004: &str = r#"
[defaults]
timeout = "2s"

[[pf]]
match = { pci = "0000:af:00.0" }
vfs = 1
ib = { device = "mlx5_0", policy = "follow", node_guids = { 0 = "11:11:11:11:11:11:09:00" }, port_guids = { 0 = "11:11:11:11:11:11:09:01" } }
"#;

const NODE: &str = "11:11:11:11:11:11:09:00";
const PORT: &str = "11:11:11:11:11:11:09:01";
const SRIOV: &str = "sys/devices/pci0000:ae/0000:ae:00.0/0000:af:00.0/sriov/0";

fn cmd(bin: &str, f: &Fixture) -> Command {
    let mut c = Command::cargo_bin(bin).unwrap();
    c.env("SRIOV_OFFLOAD_ROOT", f.root())
        .env_remove("IFACE")
        .env_remove("INVOCATION_ID");
    c
}

fn host(pf: IbPf, config: &str) -> Fixture {
    let f = Fixture::new();
    f.add_ib_pf(&pf);
    f.config(config);
    f
}

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

/// Everything but the run directory (markers, locks): what a refused run must leave alone.
fn outside_run(f: &Fixture) -> Vec<(String, String)> {
    f.snapshot()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("run/"))
        .collect()
}

#[test]
fn seed_004_host_plans_seed_004s_writes() {
    // no VFs yet, as after a reboot: the seed's numvfs, policy, node, port, unbind, bind
    let f = host(IbPf::default(), SEED_004);
    let out = cmd("vf-post", &f).arg("--dry-run").assert().success();
    golden("ib-standalone.plan", &stdout(&out));
    // the PF has no netdev: it is known by its RDMA device's name, on the command line too
    let out = cmd("vf-post", &f)
        .args(["mlx5_0", "--dry-run"])
        .assert()
        .success();
    golden("ib-standalone.plan", &stdout(&out));
    // and as udev's reapply instance for the RDMA device names it when the PF re-appears
    let out = cmd("vf-post", &f)
        .args(["--reapply", "mlx5_0", "--dry-run"])
        .assert()
        .success();
    golden("ib-standalone.plan", &stdout(&out));
}

#[test]
fn seed_004_host_as_the_kernel_leaves_it_plans_nothing() {
    // what the kernel shows after seed 004's writes: one VF, bound, with its GUIDs and policy
    let f = host(
        IbPf {
            numvfs: 1,
            vf_driver: Some("mlx5_core"),
            vf_ib: vec![(NODE, PORT, "Follow")],
            ..IbPf::default()
        },
        SEED_004,
    );
    cmd("vf-post", &f)
        .arg("--dry-run")
        .assert()
        .success()
        .stdout("nothing to do\n");
    cmd("vf-post", &f).assert().success();
    assert!(f.path("run/sriov-offload/ready").exists());
    let before = f.snapshot();
    cmd("vf-post", &f).assert().success();
    assert_eq!(before, f.snapshot(), "a second run wrote something");
}

#[test]
fn a_vf_whose_guids_change_is_rebound_after_they_are_set_and_only_it() {
    // two VFs, bound; VF 1 already has what the config says, VF 0 has the driver's defaults
    let cfg = SEED_004.replace("vfs = 1", "vfs = 2").replace(
        "port_guids = { 0 = \"11:11:11:11:11:11:09:01\" }",
        "port_guids = { 0 = \"11:11:11:11:11:11:09:01\", 1 = \"11:11:11:11:11:11:09:11\" }",
    );
    let f = host(
        IbPf {
            numvfs: 2,
            vf_driver: Some("mlx5_core"),
            vf_ib: vec![
                ("00:00:00:00:00:00:00:00", "00:00:00:00:00:00:00:00", "Down"),
                (
                    "00:00:00:00:00:00:00:00",
                    "11:11:11:11:11:11:09:11",
                    "Follow",
                ),
            ],
            ..IbPf::default()
        },
        &cfg,
    );
    let out = cmd("vf-post", &f).arg("--dry-run").assert().success();
    assert_eq!(
        stdout(&out),
        format!(
            "mlx5_0: set VF 0 IB port policy Follow\n\
             mlx5_0: set VF 0 node GUID {NODE}\n\
             mlx5_0: set VF 0 port GUID {PORT}\n\
             mlx5_0: unbind VF 0 from mlx5_core\n\
             mlx5_0: bind VFs 0 to mlx5_core\n"
        )
    );
    cmd("vf-post", &f).assert().success();
    assert_eq!(f.read(&format!("{SRIOV}/policy")), "Follow");
    assert_eq!(f.read(&format!("{SRIOV}/node")), NODE);
    assert_eq!(f.read(&format!("{SRIOV}/port")), PORT);
    assert_eq!(
        f.read("sys/bus/pci/drivers/mlx5_core/unbind"),
        "0000:af:00.1"
    );
    assert_eq!(f.read("sys/bus/pci/drivers_probe"), "0000:af:00.1");
    assert!(f.path("run/sriov-offload/ready").exists());
    cmd("vf-post", &f)
        .arg("--dry-run")
        .assert()
        .success()
        .stdout("nothing to do\n");
}

#[test]
fn auto_guids_of_a_standalone_pf_are_its_own() {
    let f = host(
        IbPf {
            numvfs: 1,
            vf_driver: Some("mlx5_core"),
            ..IbPf::default()
        },
        "[[pf]]\nmatch = { pci = \"0000:af:00.0\" }\nvfs = 1\nib = { node_guids = \"auto\", port_guids = \"auto\" }\n",
    );
    cmd("vf-post", &f).assert().success();
    let (node, port) = (
        f.read(&format!("{SRIOV}/node")),
        f.read(&format!("{SRIOV}/port")),
    );
    // 02, the host name's hash, then 0x80 for the first [[pf]] with ib (bond slaves: 0, 1)
    assert!(
        node.starts_with("02:") && node[15..].starts_with("80:00:00"),
        "{node}"
    );
    assert!(port[15..].starts_with("80:80:00"), "{port}");
    cmd("vf-post", &f)
        .arg("--dry-run")
        .assert()
        .success()
        .stdout("nothing to do\n");
}

#[test]
fn a_pf_with_an_ipoib_netdev_is_known_by_it() {
    let f = host(
        IbPf {
            netdev: Some("ib0"),
            numvfs: 1,
            vf_driver: Some("mlx5_core"),
            ..IbPf::default()
        },
        &SEED_004.replace("pci = \"0000:af:00.0\"", "name = \"ib0\""),
    );
    let out = cmd("vf-post", &f).arg("--dry-run").assert().success();
    let plan = stdout(&out);
    assert!(
        plan.starts_with("ib0: set VF 0 IB port policy Follow\n")
            && plan.ends_with("ib0: unbind VF 0 from mlx5_core\nib0: bind VFs 0 to mlx5_core\n"),
        "{plan}"
    );
    cmd("vf-post", &f).assert().success();
    cmd("vf-post", &f)
        .arg("--dry-run")
        .assert()
        .success()
        .stdout("nothing to do\n");
}

#[test]
fn without_guid_files_or_a_netdev_the_run_fails_before_any_vf_is_unbound() {
    // an upstream kernel (no MLNX_OFED sriov/N files) and no IPoIB: no way to set GUIDs
    let f = host(
        IbPf {
            numvfs: 1,
            vf_driver: Some("mlx5_core"),
            guid_files: false,
            ..IbPf::default()
        },
        SEED_004,
    );
    let before = outside_run(&f);
    let out = cmd("vf-post", &f).assert().code(1);
    let err = stderr(&out);
    assert!(
        err.contains("mlx5_0: cannot set the IB GUIDs of its VFs: there is no")
            && err.contains("0000:af:00.0/sriov/0/node")
            && err.contains("no netdev"),
        "{err}"
    );
    assert!(f.path("run/sriov-offload/failed").exists());
    assert!(
        before == outside_run(&f),
        "a VF was unbound or a file written"
    );
    // the policy alone is refused the same way
    f.config("[[pf]]\nmatch = { pci = \"0000:af:00.0\" }\nvfs = 1\nib = { policy = \"follow\" }\n");
    let before = outside_run(&f);
    let out = cmd("vf-post", &f).assert().code(1);
    assert!(
        stderr(&out).contains("cannot set the IB port policy of its VFs: there is no"),
        "{}",
        stderr(&out)
    );
    assert!(before == outside_run(&f));
}

#[test]
fn what_needs_a_netdev_is_refused_for_a_pf_without_one_naming_why() {
    let f = host(
        IbPf {
            numvfs: 1,
            vf_driver: Some("mlx5_core"),
            ..IbPf::default()
        },
        &format!("{SEED_004}hw_tc_offload = true\n"),
    );
    let before = outside_run(&f);
    let out = cmd("vf-post", &f).assert().code(1);
    let err = stderr(&out);
    assert!(
        err.contains("PF 0000:af:00.0 has no netdev (an InfiniBand port without IPoIB, known by its RDMA device mlx5_0)")
            && err.contains("set hw_tc_offload = false"),
        "{err}"
    );
    assert!(before == outside_run(&f));
    // irq-tune has nothing to tune on it, and says so
    f.config(SEED_004);
    let out = cmd("irq-tune", &f).arg("-v").assert();
    let err = stderr(&out);
    assert!(
        out.get_output().status.success()
            && err.contains(
                "mlx5_0 is a PF without a netdev (InfiniBand without IPoIB): nothing to tune"
            ),
        "{err}"
    );
}

#[test]
fn a_pf_with_its_own_ib_in_a_bond_with_ib_is_refused() {
    // matched by PCI address, so only the run can tell it is the bond's slave ens1f0
    let f = Fixture::new();
    for (n, p) in [("ens1f0", "0000:3b:00.0"), ("ens1f1", "0000:3b:00.1")] {
        f.add_pf(&Pf {
            numvfs: 2,
            master: Some("bond0"),
            vf_driver: Some("mlx5_core"),
            ..Pf::new(n, p)
        });
    }
    f.add_ib_bond("0000:3b:00.0", 2, "active");
    f.add_guid_files("0000:3b:00.1", 2);
    f.config(
        "[[pf]]\nmatch = { pci = \"0000:3b:00.0\" }\nvfs = 2\nib = { policy = \"follow\" }\n\
         [[pf]]\nmatch = { name = \"ens1f1\" }\nvfs = 2\n\
         [[bond]]\nname = \"bond0\"\nslaves = [\"ens1f0\", \"ens1f1\"]\n\
         ib = { device = \"mlx5_bond_0\", node_guids = \"auto\" }\n",
    );
    let out = cmd("vf-post", &f).arg("--dry-run").assert().code(1);
    let err = stderr(&out);
    assert!(
        err.contains("ens1f0: its [[pf]]") && err.contains("set its VFs' GUIDs in one place"),
        "{err}"
    );
}

#[test]
fn operator_tool_reads_a_pf_without_a_netdev() {
    let f = host(
        IbPf {
            numvfs: 1,
            vf_driver: Some("mlx5_core"),
            ..IbPf::default()
        },
        SEED_004,
    );
    let out = cmd("sriov-offload", &f).arg("status").assert().code(1);
    let text = stdout(&out);
    assert!(
        text.contains("mlx5_0  0000:af:00.0  1/1")
            && text.contains("mlx5_0: VF 0 IB port policy is not Follow")
            && text.contains(&format!("mlx5_0: VF 0 node GUID is not {NODE}"))
            // the rebinding belongs to the GUID difference: not a difference of its own
            && !text.contains("not bound"),
        "{text}"
    );
    let out = cmd("sriov-offload", &f).arg("plan").assert().success();
    assert!(
        stdout(&out)
            .contains("  mlx5_0: unbind VF 0 from mlx5_core\n  mlx5_0: bind VFs 0 to mlx5_core\n"),
        "{}",
        stdout(&out)
    );
    let out = cmd("sriov-offload", &f).arg("check").assert();
    assert!(
        stdout(&out).contains("ok    sriov-totalvfs mlx5_0: 0000:af:00.0 allows 8 VFs"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn an_ib_device_that_is_not_the_pfs_is_an_error_naming_both() {
    let f = host(
        IbPf::default(),
        &SEED_004.replace("device = \"mlx5_0\"", "device = \"mlx5_1\""),
    );
    let before = outside_run(&f);
    let out = cmd("vf-post", &f).assert().code(1);
    let err = stderr(&out);
    assert!(
        err.contains("mlx5_0: ib.device = mlx5_1")
            && err.contains("the RDMA device of 0000:af:00.0 is mlx5_0"),
        "{err}"
    );
    assert!(before == outside_run(&f));
}

#[test]
fn a_fresh_pf_without_guid_files_or_a_netdev_is_refused_before_its_vfs_are_made() {
    // mlx5_core makes MLNX_OFED's sriov/ when it binds the PF: without it (upstream) and without
    // IPoIB nothing could set the GUIDs of the VFs this run would create
    let f = host(
        IbPf {
            guid_files: false,
            ..IbPf::default()
        },
        SEED_004,
    );
    let before = outside_run(&f);
    let out = cmd("vf-post", &f).assert().code(1);
    let err = stderr(&out);
    assert!(
        err.contains("mlx5_0: cannot set the IB GUIDs of its VFs: there is no")
            && err.contains("0000:af:00.0/sriov (MLNX_OFED"),
        "{err}"
    );
    assert!(
        before == outside_run(&f),
        "sriov_numvfs or another file was written"
    );
}
