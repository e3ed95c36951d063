//! systemd-networkd hosts against fixture trees: post on a bond slave that networkd has not
//! enslaved yet waits for it (and a timeout names the slaves).

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

fn stderr(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}

#[test]
fn post_on_a_slave_networkd_has_not_enslaved_times_out_naming_the_slaves() {
    let f = Fixture::new();
    f.add_pf(&Pf {
        numvfs: 4,
        master: Some("bond0"),
        ..Pf::new("ens1f0", "0000:3b:00.0")
    });
    f.add_pf(&Pf {
        numvfs: 4,
        ..Pf::new("ens1f1", "0000:3b:00.1")
    });
    f.config(
        "[defaults]\ntimeout = \"1s\"\n\
         [[pf]]\nmatch = { name = \"ens1f0\" }\nvfs = 4\n\
         [[pf]]\nmatch = { name = \"ens1f1\" }\nvfs = 4\n\
         [[bond]]\nname = \"bond0\"\nslaves = [\"ens1f0\", \"ens1f1\"]\n",
    );
    let out = cmd("vf-post", &f).arg("--dry-run").assert().success();
    assert_eq!(
        String::from_utf8_lossy(&out.get_output().stdout),
        "ens1f1: wait for bond0 to enslave ens1f0, ens1f1\n"
    );
    // the unit's run (every PF): a fixture has no kernel events, so the wait ends at once
    let out = cmd("vf-post", &f).assert().code(3);
    let err = stderr(&out);
    assert!(
        err.contains("waiting for bond0 to enslave ens1f0, ens1f1; missing: ens1f1 (not enslaved)"),
        "{err}"
    );
    assert!(f
        .read("run/sriov-offload/failed")
        .contains("ens1f1 (not enslaved)"));
    assert!(!f.path("run/sriov-offload/ready").exists());
}
