//! systemd-networkd hosts against fixture trees: a `.link` file that creates VFs on a
//! configured PF fails the run naming both files; post on a bond slave that networkd has not
//! enslaved yet waits for it (and a timeout names the slaves); the flag the unmanaged udev rule
//! tests follows `[boot] unmanage_vfs`. The real boot is tests/vm/scenarios/systemd/boot-networkd.sh.

mod common;

use assert_cmd::Command;
use common::{write, Fixture, Pf};

fn cmd(bin: &str, f: &Fixture) -> Command {
    let mut c = Command::cargo_bin(bin).unwrap();
    c.env("SRIOV_OFFLOAD_ROOT", f.root())
        .env_remove("IFACE")
        .env_remove("INVOCATION_ID");
    c
}

const ONE_PF: &str =
    "[defaults]\ntimeout = \"1s\"\n\n[[pf]]\nmatch = { name = \"ens1f0\" }\nvfs = 4\n";

fn one_pf() -> Fixture {
    let f = Fixture::new();
    f.add_pf(&Pf::new("ens1f0", "0000:3b:00.0"));
    f.add_pf(&Pf::new("ens1f1", "0000:3b:00.1"));
    f.config(ONE_PF);
    f
}

fn stderr(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}

#[test]
fn link_file_creating_vfs_on_a_configured_pf_fails_naming_both_files() {
    let f = one_pf();
    // the shipped default (no SR-IOV) and a file for the other PF are fine
    write(
        &f.path("usr/lib/systemd/network/99-default.link"),
        "[Match]\nOriginalName=*\n\n[Link]\nNamePolicy=keep kernel database onboard slot path\n",
    );
    write(
        &f.path("etc/systemd/network/20-other.link"),
        "[Match]\nMACAddress=b8:59:9f:00:00:01\n\n[Link]\nSR-IOVVirtualFunctions=2\n",
    );
    cmd("vf-pre", &f).arg("--dry-run").assert().success();
    // this one matches ens1f0 by its PCI path and sets its VF count
    write(
        &f.path("run/systemd/network/10-sriov.link"),
        "[Match]\nPath=pci-0000:3b:00.0\n\n[Link]\nSR-IOVVirtualFunctions=8\n",
    );
    for bin in ["vf-pre", "vf-post"] {
        let out = cmd(bin, &f).assert().code(1);
        let err = stderr(&out);
        for needle in [
            "ens1f0: ",
            "run/systemd/network/10-sriov.link has SR-IOVVirtualFunctions=8",
            "[Match] Path=pci-0000:3b:00.0",
            "etc/sriov-offload/config.toml:4 configures its VFs",
        ] {
            assert!(err.contains(needle), "{bin}: {needle:?} not in {err}");
        }
        assert!(
            f.read("run/sriov-offload/failed").contains("10-sriov.link"),
            "{bin}"
        );
    }
    // nothing was written to the PF
    let d = "sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0";
    assert_eq!(f.read(&format!("{d}/sriov_numvfs")), "0\n");
    // --dry-run reports it as well
    cmd("vf-pre", &f).arg("--dry-run").assert().code(1);
    // masked in /etc: no conflict any more
    std::os::unix::fs::symlink("/dev/null", f.path("etc/systemd/network/10-sriov.link")).unwrap();
    cmd("vf-pre", &f).arg("--dry-run").assert().success();
}

#[test]
fn link_file_with_keys_not_evaluated_is_a_warning_not_a_failure() {
    let f = one_pf();
    write(
        &f.path("etc/systemd/network/10-sriov.link"),
        "[Match]\nDriver=mlx5_core\nProperty=ID_MODEL_ID=0x1017\n\n[SR-IOV]\nVirtualFunction=0\n",
    );
    let out = cmd("vf-pre", &f).assert().success();
    let err = stderr(&out);
    assert!(
        err.contains("10-sriov.link has an [SR-IOV] section and may apply to it (not checked here: Property=)"),
        "{err}"
    );
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
        // on a fixture tree the wait says it could not wait (no kernel events), not "timed out"
        err.contains("bond0 to enslave ens1f0, ens1f1 is not there")
            && err.contains("missing: ens1f1 (not enslaved)"),
        "{err}"
    );
    assert!(f
        .read("run/sriov-offload/failed")
        .contains("ens1f1 (not enslaved)"));
    assert!(!f.path("run/sriov-offload/ready").exists());
}

#[test]
fn unmanaged_flag_follows_the_config_and_a_rerun_writes_nothing() {
    let f = one_pf();
    let flag = "run/sriov-offload/vfs-unmanaged";
    cmd("vf-pre", &f).arg("--dry-run").assert().success();
    assert!(!f.path(flag).exists(), "a dry run writes nothing");
    cmd("vf-pre", &f).assert().success();
    assert!(f.path(flag).exists());
    let second = cmd("vf-pre", &f).arg("-v").assert().success();
    assert!(
        stderr(&second).contains("0 step(s), 0 write(s)"),
        "{}",
        stderr(&second)
    );
    f.config(&format!("{ONE_PF}\n[boot]\nunmanage_vfs = false\n"));
    let out = cmd("vf-pre", &f).assert().success();
    assert!(
        stderr(&out).contains("removed") && !f.path(flag).exists(),
        "{}",
        stderr(&out)
    );
    // an interface the config does not mention is not a run: nothing is touched
    f.config(ONE_PF);
    cmd("vf-pre", &f).arg("ens1f1").assert().success();
    assert!(!f.path(flag).exists());
}
