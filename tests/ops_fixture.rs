//! `sriov-offload status | check | plan | metrics` against fixture trees shaped like real mlx5
//! hosts (SRIOV_OFFLOAD_ROOT): the configured two-PF host with a VF-LAG bond and IB GUIDs, a
//! fresh host, a half-configured host (a run stopped midway) and a host whose VFs are in use.
//! Golden human and JSON outputs (tests/golden/ops/, UPDATE_GOLDEN=1 rewrites them), exit codes,
//! each difference named, and nothing written.

mod common;

use assert_cmd::Command;
use common::{Fixture, Pf};

macro_rules! two_pfs {
    () => {
        r#"
[[pf]]
match = { name = "ens1f0" }
vfs = 4
eswitch = "switchdev"
bind = "mlx5_core"
reserved_vfs = [0]

[[pf]]
match = { pci = "0000:3b:00.1" }
vfs = 4
eswitch = "switchdev"
bind = "mlx5_core"

[boot]
legacy_marker = "/tmp/vf_done.offload"
"#
    };
}

/// Two ConnectX PFs in switchdev, 4 VFs each bound to mlx5_core.
const TWO_PF_CONFIG: &str = two_pfs!();

/// The same in a bond with VF LAG.
const BOND_CONFIG: &str = concat!(
    two_pfs!(),
    r#"
[[bond]]
name = "bond0"
slaves = ["ens1f0", "ens1f1"]
vf_lag = true
"#
);

const PFS: [(&str, &str); 2] = [("ens1f0", "0000:3b:00.0"), ("ens1f1", "0000:3b:00.1")];

fn cmd(f: &Fixture) -> Command {
    let mut c = Command::cargo_bin("sriov-offload").unwrap();
    c.env("SRIOV_OFFLOAD_ROOT", f.root())
        .env_remove("IFACE")
        .env_remove("INVOCATION_ID");
    c
}

/// Runs `sriov-offload ARGS`, checks the exit code, returns stdout with the tree's path
/// replaced by `ROOT` (it appears in messages that name files).
fn out(f: &Fixture, args: &[&str], code: i32) -> String {
    let o = cmd(f).args(args).output().unwrap();
    let stdout =
        String::from_utf8_lossy(&o.stdout).replace(&f.root().display().to_string(), "ROOT");
    assert_eq!(
        o.status.code(),
        Some(code),
        "sriov-offload {args:?}\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    stdout
}

fn golden(name: &str, actual: &str) {
    common::golden(&format!("ops/{name}"), actual);
}

/// The JSON's time fields vary with the clock: set to 0.
fn stable_json(s: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(s).unwrap();
    if let Some(t) = v.pointer_mut("/marker/time") {
        if !t.is_null() {
            *t = 0.into();
        }
    }
    for pf in v["pfs"].as_array_mut().into_iter().flatten() {
        if let Some(t) = pf.pointer_mut("/pf_state/time") {
            *t = 0.into();
        }
    }
    serde_json::to_string_pretty(&v).unwrap() + "\n"
}

/// The human status line with the marker's time blanked.
fn stable_text(s: &str) -> String {
    s.lines()
        .map(|l| match l.find(" since ") {
            Some(i) if l.starts_with("host ") => {
                let end = l[i..].find(" UTC").map_or(l.len(), |j| i + j + 4);
                format!("{} since TIME{}", &l[..i], &l[end..])
            }
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn base(f: &Fixture) {
    f.host_basics(
        "0-7",
        "BOOT_IMAGE=/vmlinuz-6.1.0-28-amd64 root=/dev/sda1 ro intel_iommu=on iommu=pt",
    );
}

/// The two-PF mlx5 host, fully configured: 4 VFs each in switchdev, bound, bond0 with VF LAG
/// active, the auto node GUIDs written, the target enabled, IOMMU on; vf-post ran (marker).
fn configured(vf_up: bool) -> Fixture {
    let f = Fixture::new();
    base(&f);
    f.iommu_groups(12);
    f.enable_target();
    for (n, p) in PFS {
        f.add_pf(&Pf {
            numvfs: 4,
            switchdev: true,
            vf_driver: Some("mlx5_core"),
            vf_up,
            master: Some("bond0"),
            ..Pf::new(n, p)
        });
    }
    f.file("sys/kernel/debug/mlx5/0000:3b:00.0/lag/state", "active\n");
    f.file("sys/kernel/debug/mlx5/0000:3b:00.1/lag/state", "active\n");
    f.mlx5_irqs(
        &[
            ("0000:3b:00.0", 100, 4, "0-7"),
            ("0000:3b:00.1", 110, 4, "0-3"),
            ("0000:3b:00.2", 120, 2, "2"),
        ],
        "0-3",
    );
    f.config(BOND_CONFIG);
    let mut post = Command::cargo_bin("vf-post").unwrap();
    post.env("SRIOV_OFFLOAD_ROOT", f.root())
        .env_remove("IFACE")
        .env_remove("INVOCATION_ID")
        .assert()
        .success();
    f
}

/// Nothing done yet: 0 VFs, legacy eswitch; and what `check` must find on such a host.
fn fresh() -> Fixture {
    let f = Fixture::new();
    f.host_basics(
        "0-7",
        "BOOT_IMAGE=/vmlinuz-6.1.0-28-amd64 root=/dev/sda1 ro",
    );
    f.add_pf(&Pf::new("ens1f0", "0000:3b:00.0"));
    f.add_pf(&Pf {
        totalvfs: 2,
        ..Pf::new("ens1f1", "0000:3b:00.1")
    });
    f.config(BOND_CONFIG);
    f
}

/// A run stopped midway: ens1f0 is done; ens1f1 has its VFs, unbound, autoprobe still off,
/// its eswitch still legacy.
fn half_configured() -> Fixture {
    let f = Fixture::new();
    base(&f);
    f.iommu_groups(12);
    f.enable_target();
    f.add_pf(&Pf {
        numvfs: 4,
        switchdev: true,
        vf_driver: Some("mlx5_core"),
        ..Pf::new("ens1f0", "0000:3b:00.0")
    });
    f.add_pf(&Pf {
        numvfs: 4,
        autoprobe: false,
        ..Pf::new("ens1f1", "0000:3b:00.1")
    });
    f.config(TWO_PF_CONFIG);
    f
}

#[test]
fn configured_host_matches_and_lists_every_pf_and_vf() {
    let f = configured(true);
    let before = f.snapshot();
    let text = out(&f, &["status"], 0);
    golden("configured.status", &stable_text(&text));
    golden(
        "configured.status.json",
        &stable_json(&out(&f, &["status", "--json"], 0)),
    );
    golden("configured.plan", &out(&f, &["plan"], 0));
    golden("configured.check", &out(&f, &["check"], 0));
    assert!(text.contains("matches the config"), "{text}");
    // one PF, by name or through its bond
    let one = out(&f, &["status", "--json", "ens1f1"], 0);
    let v: serde_json::Value = serde_json::from_str(&one).unwrap();
    assert_eq!(v["pfs"].as_array().unwrap().len(), 1);
    assert_eq!(v["pfs"][0]["name"], "ens1f1");
    let bond = out(&f, &["status", "--json", "bond0"], 0);
    let v: serde_json::Value = serde_json::from_str(&bond).unwrap();
    assert_eq!(v["pfs"].as_array().unwrap().len(), 2);
    assert_eq!(before, f.snapshot(), "a reader wrote to the tree");
}

#[test]
fn fresh_host_differs_in_every_step_and_check_finds_the_prerequisites() {
    let f = fresh();
    f.file(
        "dev/kmsg",
        "6,412,2034123,-;pci 0000:3b:00.1: [15b3:1017] type 00 class 0x020000\n\
         6,733,9034123,-;mlx5_core 0000:3b:00.1: not enough MMIO resources for SR-IOV\n \
         SUBSYSTEM=pci\n",
    );
    f.file(
        "etc/rc.local.offload",
        "#!/bin/bash\necho 0 > /sys/class/net/ens1f0/device/sriov_numvfs\necho 32 > /sys/class/net/ens1f0/device/sriov_numvfs\n",
    );
    f.file(
        "etc/rc.local.wait_offload",
        "#!/bin/bash\nwhile [ ! -f /tmp/vf_done.offload ]; do sleep 1; done\n",
    );
    f.file(
        "etc/network/interfaces",
        "auto bond0\niface bond0 inet manual\n    bond-slaves ens1f0 ens1f1\n    pre-up /etc/network/bond.offload.pre\n    post-up /etc/network/bond.offload.post\n",
    );
    f.process(812, "irqbalance");
    f.process(901, "NetworkManager");
    f.file("usr/sbin/ovs-vswitchd", "");
    f.file(
        "etc/systemd/network/60-ens1f0.link",
        "[Match]\nOriginalName=ens1f0\n\n[Link]\nSR-IOVVirtualFunctions=8\n",
    );
    f.add_ib_bond("0000:3b:00.0", 4, "disabled");
    f.config(&format!(
        "{BOND_CONFIG}ib = {{ device = \"mlx5_bond_0\", node_guids = \"auto\" }}\n\n[tune]\nirq_affinity = \"numa-local\"\n"
    ));
    let before = f.snapshot();
    let text = out(&f, &["status"], 1);
    golden("fresh.status", &text);
    golden(
        "fresh.status.json",
        &stable_json(&out(&f, &["status", "--json"], 1)),
    );
    golden("fresh.plan", &out(&f, &["plan"], 1));
    golden("fresh.plan.json", &out(&f, &["plan", "--json"], 1));
    golden("fresh.check", &out(&f, &["check"], 1));
    golden("fresh.check.json", &out(&f, &["check", "--json"], 1));
    for want in [
        "ens1f0: 0 VFs, want 4",
        "ens1f0: eswitch legacy, want switchdev",
        "ens1f0: VF LAG of bond0 is not active",
        "ens1f1: config asks for 4 VFs but the device allows 2",
        "host: no ready marker for this boot",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert_eq!(before, f.snapshot(), "a reader wrote to the tree");
}

#[test]
fn half_configured_host_names_what_the_stopped_run_left() {
    let f = half_configured();
    let text = out(&f, &["status"], 1);
    golden("half.status", &stable_text(&text));
    golden(
        "half.status.json",
        &stable_json(&out(&f, &["status", "--json"], 1)),
    );
    golden("half.plan", &out(&f, &["plan"], 0));
    for want in [
        "ens1f1: eswitch legacy, want switchdev",
        "ens1f1: VF(s) 0-3 not bound to mlx5_core",
        "ens1f1: no representor for VF(s) 0-3",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    let v: serde_json::Value = serde_json::from_str(&out(&f, &["status", "--json"], 1)).unwrap();
    assert_eq!(v["pfs"][0]["matches"], true, "ens1f0 is done");
    assert_eq!(v["pfs"][1]["autoprobe"], false);
}

#[test]
fn host_with_vfs_in_use_names_the_refusal_and_the_difference() {
    let f = configured(true);
    f.config(&BOND_CONFIG.replacen("vfs = 4", "vfs = 2", 1));
    let text = out(&f, &["status"], 1);
    golden("in-use.status", &stable_text(&text));
    golden(
        "in-use.status.json",
        &stable_json(&out(&f, &["status", "--json"], 1)),
    );
    golden("in-use.plan", &out(&f, &["plan"], 1));
    let v: serde_json::Value = serde_json::from_str(&out(&f, &["status", "--json"], 1)).unwrap();
    let diffs: Vec<String> = v["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{} {}: {}",
                d["pf"].as_str().unwrap(),
                d["kind"].as_str().unwrap(),
                d["message"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(diffs.len(), 2, "{diffs:#?}");
    assert!(diffs[0].starts_with("ens1f0 refused: vf-pre and vf-post leave it as it is: changing sriov_numvfs from 4 to 2 would reset VFs in use (VF 0 netdev ens1f0v0 is up;"), "{diffs:#?}");
    assert_eq!(diffs[1], "ens1f0 vfs: 4 VFs, want 2 (sriov_numvfs)");
}

#[test]
fn drift_after_a_manual_reset_names_the_pf() {
    let f = configured(false);
    out(&f, &["status"], 0);
    // `echo 0 > sriov_numvfs` by hand on ens1f1: its VFs and representors are gone
    let f2 = Fixture::new();
    base(&f2);
    f2.iommu_groups(12);
    f2.enable_target();
    f2.add_pf(&Pf {
        numvfs: 4,
        switchdev: true,
        vf_driver: Some("mlx5_core"),
        master: Some("bond0"),
        ..Pf::new("ens1f0", "0000:3b:00.0")
    });
    f2.add_pf(&Pf {
        switchdev: true,
        master: Some("bond0"),
        ..Pf::new("ens1f1", "0000:3b:00.1")
    });
    f2.config(TWO_PF_CONFIG);
    let text = out(&f2, &["status"], 1);
    assert!(
        text.contains("ens1f1: 0 VFs, want 4 (sriov_numvfs)"),
        "{text}"
    );
    let v: serde_json::Value = serde_json::from_str(&out(&f2, &["status", "--json"], 1)).unwrap();
    for d in v["differences"].as_array().unwrap() {
        assert!(
            d["pf"] == "ens1f1" || d["kind"] == "marker",
            "only ens1f1 differs: {d}"
        );
    }
    assert_eq!(v["pfs"][0]["matches"], true);
    assert_eq!(v["pfs"][1]["matches"], false);
}

#[test]
fn config_errors_exit_2_for_status_and_are_a_finding_for_check() {
    let f = fresh();
    f.config("[[pf]]\nmatch = { name = \"ens1f0\" }\nvfs = \"x\"\n");
    let o = cmd(&f).arg("status").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("config.toml:3:7"));
    let o = cmd(&f).args(["check", "--json"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["findings"][0]["rule"], "config");
    assert_eq!(v["findings"][0]["severity"], "error");
    let o = cmd(&f).args(["status", "eth9"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn status_names_the_lock_holder() {
    use std::os::unix::fs::OpenOptionsExt;
    let f = configured(false);
    std::fs::create_dir_all(f.path("run/sriov-offload/lock")).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(f.path("run/sriov-offload/lock/0000:3b:00.1"))
        .unwrap();
    let _held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive).unwrap();
    let v: serde_json::Value = serde_json::from_str(&out(&f, &["status", "--json"], 0)).unwrap();
    let holder = v["pfs"][1]["lock_holder"].as_str().unwrap_or("");
    assert!(
        holder.starts_with(&format!("pid {} (", std::process::id())),
        "{v:#}"
    );
    assert!(v["pfs"][0]["lock_holder"].is_null());
}

#[test]
fn metrics_print_and_write_the_textfile() {
    let f = configured(false);
    let text = out(&f, &["metrics"], 0);
    for want in [
        "sriov_offload_vfs_desired{pf=\"ens1f0\",device=\"0000:3b:00.0\"} 4",
        "sriov_offload_vfs_bound{pf=\"ens1f1\",device=\"0000:3b:00.1\"} 4",
        "sriov_offload_representors{pf=\"ens1f1\",device=\"0000:3b:00.1\"} 4",
        "sriov_offload_pf_matches_config{pf=\"ens1f0\",device=\"0000:3b:00.0\"} 1",
        "sriov_offload_ready 1",
        "sriov_offload_runs_total{tool=\"vf-post\"} 0",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    std::fs::create_dir_all(f.path("var/lib/node_exporter")).unwrap();
    cmd(&f)
        .args(["metrics", "--textfile", "/var/lib/node_exporter"])
        .assert()
        .success();
    assert_eq!(f.read("var/lib/node_exporter/sriov_offload.prom"), text);
}

#[test]
fn boot_binaries_record_their_runs_when_a_textfile_dir_is_configured() {
    let f = configured(false);
    std::fs::create_dir_all(f.path("var/lib/node_exporter")).unwrap();
    f.file(
        "etc/sriov-offload/conf.d/10-metrics.toml",
        "[metrics]\ntextfile_dir = \"/var/lib/node_exporter\"\n",
    );
    for bin in ["vf-pre", "vf-post", "vf-post"] {
        Command::cargo_bin(bin)
            .unwrap()
            .env("SRIOV_OFFLOAD_ROOT", f.root())
            .env_remove("IFACE")
            .env_remove("INVOCATION_ID")
            .assert()
            .success();
    }
    // a refused run counts as a failure
    f.file(
        "etc/sriov-offload/config.toml",
        &BOND_CONFIG.replacen("vfs = 4", "vfs = 300", 1),
    );
    Command::cargo_bin("vf-pre")
        .unwrap()
        .env("SRIOV_OFFLOAD_ROOT", f.root())
        .env_remove("INVOCATION_ID")
        .assert()
        .code(1);
    let prom = f.read("var/lib/node_exporter/sriov_offload.prom");
    for want in [
        "sriov_offload_runs_total{tool=\"vf-pre\"} 2",
        "sriov_offload_failures_total{tool=\"vf-pre\"} 1",
        "sriov_offload_last_run_exit_status{tool=\"vf-pre\"} 1",
        "sriov_offload_runs_total{tool=\"vf-post\"} 2",
        "sriov_offload_failures_total{tool=\"vf-post\"} 0",
        "sriov_offload_runs_total{tool=\"irq-tune\"} 0",
    ] {
        assert!(prom.contains(want), "missing {want:?} in\n{prom}");
    }
}

#[test]
fn generate_docs_writes_man_pages_and_completions_for_every_binary() {
    let d = tempfile::tempdir().unwrap();
    Command::cargo_bin("sriov-offload")
        .unwrap()
        .arg("generate-docs")
        .arg(d.path())
        .assert()
        .success();
    for b in [
        "vf-pre",
        "vf-post",
        "wait-offload",
        "irq-tune",
        "sriov-offload-generator",
        "sriov-offload",
    ] {
        let man = std::fs::read_to_string(d.path().join(format!("man/{b}.1"))).unwrap();
        assert!(man.contains(".TH"), "{b}.1");
        for f in [
            format!("completions/bash/{b}"),
            format!("completions/zsh/_{b}"),
            format!("completions/fish/{b}.fish"),
        ] {
            assert!(d.path().join(&f).is_file(), "{f}");
        }
    }
    let man = std::fs::read_to_string(d.path().join("man/sriov-offload.1")).unwrap();
    assert!(man.contains("status") && man.contains("check"), "{man}");
}

#[test]
fn check_finds_a_per_vf_bind_driver_that_is_not_loaded() {
    let f = Fixture::new();
    base(&f);
    f.add_pf(&Pf::new("ens1f0", "0000:3b:00.0"));
    f.config(
        "[[pf]]\nmatch = { name = \"ens1f0\" }\nvfs = 4\nbind = \"mlx5_core\"\nvf = { \"2\" = { bind = \"vfio-pci\" }, 3 = { bind = \"igbvf\" } }\n",
    );
    let text = out(&f, &["check"], 1);
    // each VF's own driver is checked like the PF's
    for want in [
        "bind-driver mlx5_core: mlx5_core is loaded",
        "bind-driver vfio-pci: vfio-pci is loaded",
        "igbvf is not loaded (not among the kernel's PCI drivers)",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

#[test]
fn status_names_an_mtu_and_a_vf_bind_that_differ() {
    let f = Fixture::new();
    base(&f);
    f.add_pf(&Pf {
        numvfs: 2,
        vf_driver: Some("mlx5_core"),
        ..Pf::new("ens1f0", "0000:3b:00.0")
    });
    f.config(
        "[[pf]]\nmatch = { name = \"ens1f0\" }\nvfs = 2\nbind = \"mlx5_core\"\nmtu = 9000\nvf = { 0 = { mtu = 4000 }, 1 = { bind = \"vfio-pci\" } }\n",
    );
    let before = f.snapshot();
    let text = out(&f, &["status"], 1);
    for want in [
        "ens1f0: MTU 1500, want 9000",
        "ens1f0: set MTU 4000 on VF 0 netdev ens1f0v0",
        "ens1f0: VF(s) 1 not bound to vfio-pci",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert_eq!(before, f.snapshot(), "a reader wrote to the tree");
}
