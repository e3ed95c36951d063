//! devlink settings on fixture trees: the eswitch inline and encap mode through the compat
//! files of MLNX_OFED kernels (the only place a tree has them), and devlink parameters, which
//! only a kernel can report (the VM scenario `devlink-params.sh` sets them on netdevsim).

mod common;

use assert_cmd::Command;
use common::{Fixture, Pf};

fn cmd(bin: &str, f: &Fixture) -> Command {
    let mut c = Command::cargo_bin(bin).unwrap();
    c.env("SRIOV_OFFLOAD_ROOT", f.root())
        .env_remove("IFACE")
        .env_remove("INVOCATION_ID");
    c
}

const NET: &str = "sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0/net/ens1f0";

fn config(f: &Fixture) {
    f.config(
        "[defaults]\ntimeout = \"1s\"\n[[pf]]\nmatch = { name = \"ens1f0\" }\nvfs = 0\neswitch = \"switchdev\"\neswitch_inline_mode = \"transport\"\neswitch_encap_mode = \"basic\"\n",
    );
}

fn stdout(c: &mut Command) -> String {
    let out = c.assert().success();
    String::from_utf8_lossy(&out.get_output().stdout).into_owned()
}

#[test]
fn inline_and_encap_mode_are_set_with_the_change_to_switchdev_and_then_left_alone() {
    let f = Fixture::new();
    f.add_pf(&Pf::new("ens1f0", "0000:3b:00.0"));
    f.file(&format!("{NET}/compat/devlink/inline"), "none\n");
    f.file(&format!("{NET}/compat/devlink/encap"), "none\n");
    config(&f);
    assert_eq!(
        stdout(cmd("vf-post", &f).arg("--dry-run")).trim(),
        "ens1f0: set eswitch mode switchdev inline-mode transport encap-mode basic"
    );
    cmd("vf-post", &f).assert().success();
    assert_eq!(f.read(&format!("{NET}/compat/devlink/mode")), "switchdev");
    assert_eq!(f.read(&format!("{NET}/compat/devlink/inline")), "transport");
    assert_eq!(f.read(&format!("{NET}/compat/devlink/encap")), "basic");
    assert!(f.path("run/sriov-offload/ready").exists());
    // the second run has nothing to do
    assert_eq!(
        stdout(cmd("vf-post", &f).arg("--dry-run")).trim(),
        "nothing to do"
    );
    let before = f.snapshot();
    cmd("vf-post", &f).assert().success();
    assert_eq!(before, f.snapshot());
}

#[test]
fn in_switchdev_only_the_modes_that_differ_are_set() {
    let f = Fixture::new();
    f.add_pf(&Pf {
        switchdev: true,
        ..Pf::new("ens1f0", "0000:3b:00.0")
    });
    f.file(&format!("{NET}/compat/devlink/inline"), "none\n");
    f.file(&format!("{NET}/compat/devlink/encap"), "basic\n");
    config(&f);
    assert_eq!(
        stdout(cmd("vf-post", &f).arg("--dry-run")).trim(),
        "ens1f0: set eswitch inline-mode transport"
    );
    // vf-pre leaves it to vf-post (eswitch_order after-bond, the default)
    assert_eq!(
        stdout(cmd("vf-pre", &f).arg("--dry-run")).trim(),
        "nothing to do"
    );
    cmd("vf-post", &f).assert().success();
    assert_eq!(f.read(&format!("{NET}/compat/devlink/inline")), "transport");
    // the mode and the encap mode as they were (as the fixture wrote them, with the newline)
    assert_eq!(f.read(&format!("{NET}/compat/devlink/mode")), "switchdev\n");
    assert_eq!(f.read(&format!("{NET}/compat/devlink/encap")), "basic\n");
    assert_eq!(
        stdout(cmd("vf-post", &f).arg("--dry-run")).trim(),
        "nothing to do"
    );
    // status shows them
    let out = cmd("sriov-offload", &f).arg("status").assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        text.contains("eswitch inline-mode transport (want transport)")
            && text.contains("eswitch encap-mode basic (want basic)"),
        "{text}"
    );
}

#[test]
fn modes_the_eswitch_does_not_report_are_not_planned_again_and_again() {
    // switchdev already, no compat inline/encap files (an OFED without them): unknown, so not
    // planned (they are set with the change to switchdev only); a run converges
    let f = Fixture::new();
    f.add_pf(&Pf {
        switchdev: true,
        ..Pf::new("ens1f0", "0000:3b:00.0")
    });
    config(&f);
    assert_eq!(
        stdout(cmd("vf-post", &f).arg("--dry-run")).trim(),
        "nothing to do"
    );
    cmd("vf-post", &f).assert().success();
    let out = cmd("sriov-offload", &f)
        .args(["status", "--json"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let pf = &v["pfs"][0];
    assert_eq!(pf["eswitch_inline_mode"]["want"], "transport");
    assert!(pf["eswitch_inline_mode"]["have"].is_null(), "{pf}");
}

#[test]
fn devlink_params_on_a_tree_are_refused_before_anything_is_written() {
    let f = Fixture::new();
    f.add_pf(&Pf::new("ens1f0", "0000:3b:00.0"));
    f.config(
        "[[pf]]\nmatch = { name = \"ens1f0\" }\nvfs = 4\ndevlink_params = { max_macs = 16 }\n",
    );
    let before = f.snapshot();
    for bin in ["vf-pre", "vf-post"] {
        let out = cmd(bin, &f).assert().code(1);
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(
            err.contains("ens1f0: devlink_params cannot be checked or set: devlink parameters are read through devlink netlink, which is not used on a fixture tree"),
            "{bin}: {err}"
        );
    }
    // the failed marker says why (no host was ready); nothing else is written
    let mut after = f.snapshot();
    after.retain(|k, _| !k.starts_with("run/sriov-offload"));
    let mut before = before;
    before.retain(|k, _| !k.starts_with("run/sriov-offload"));
    assert_eq!(before, after);
    assert_eq!(
        f.read("sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0/sriov_numvfs"),
        "0\n"
    );
}
