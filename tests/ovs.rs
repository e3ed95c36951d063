//! The OVS steps of vf-post and ovs-vswitchd's ExecStartPre (sriov-offload-ovs) on a fixture
//! tree, against a real ovsdb-server (package openvswitch-common; tests/vm/setup.sh installs
//! it) serving a database of OVS's own schema (tests/ovsdb/vswitch.ovsschema, Open vSwitch
//! 3.1) at the fixture's /run/openvswitch/db.sock, and without one (OVS not installed).
//! Without ovsdb-server the server tests fail saying so, unless SRIOV_TESTBED_SKIP=1.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as Proc;

use assert_cmd::Command;
use common::{Fixture, Pf};
use serde_json::Value;

const CONFIG: &str = r#"
[defaults]
timeout = "2s"

[[pf]]
match = { name = "ens1f0" }
vfs = 4
eswitch = "switchdev"
bind = "mlx5_core"
ovs = { bridge = "br-offload", create_bridge = true }
"#;

fn configured() -> Fixture {
    let f = Fixture::new();
    f.add_pf(&Pf {
        numvfs: 4,
        switchdev: true,
        vf_driver: Some("mlx5_core"),
        ..Pf::new("ens1f0", "0000:3b:00.0")
    });
    f.config(CONFIG);
    f
}

fn cmd(bin: &str, f: &Fixture) -> Command {
    let mut c = Command::cargo_bin(bin).unwrap();
    c.env("SRIOV_OFFLOAD_ROOT", f.root())
        .env_remove("IFACE")
        .env_remove("INVOCATION_ID");
    c
}

/// A real ovsdb-server on a fresh database (as `ovs-vsctl init` leaves it) at the fixture's
/// socket; stopped (by its pid) when dropped.
struct Server {
    dir: tempfile::TempDir,
    pid: u32,
    sock: PathBuf,
}

impl Server {
    fn start(f: &Fixture) -> Option<Server> {
        if Proc::new("ovsdb-server").arg("--version").output().is_err() {
            if std::env::var("SRIOV_TESTBED_SKIP").as_deref() == Ok("1") {
                eprintln!("SKIPPED: no ovsdb-server (package openvswitch-common) and SRIOV_TESTBED_SKIP=1");
                return None;
            }
            panic!("ovsdb-server not found: install openvswitch-common (tests/vm/setup.sh does), or set SRIOV_TESTBED_SKIP=1");
        }
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("conf.db");
        let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ovsdb/vswitch.ovsschema");
        let ok = Proc::new("ovsdb-tool")
            .arg("create")
            .arg(&db)
            .arg(&schema)
            .status()
            .unwrap();
        assert!(ok.success(), "ovsdb-tool create");
        let sock = f.path("run/openvswitch/db.sock");
        std::fs::create_dir_all(sock.parent().unwrap()).unwrap();
        let pidfile = dir.path().join("pid");
        let ok = Proc::new("ovsdb-server")
            .arg(format!("--remote=punix:{}", sock.display()))
            .arg(format!("--pidfile={}", pidfile.display()))
            .arg(format!("--unixctl={}", dir.path().join("ctl").display()))
            .arg(format!("--log-file={}", dir.path().join("log").display()))
            .arg("--detach")
            .arg(&db)
            .status()
            .unwrap();
        assert!(ok.success(), "ovsdb-server did not start");
        let pid = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let s = Server { dir, pid, sock };
        s.transact(r#"[{"op":"insert","table":"Open_vSwitch","row":{}}]"#);
        Some(s)
    }

    /// `ovsdb-client transact` of `ops` (a JSON array of operations).
    fn transact(&self, ops: &str) -> Value {
        let ops = format!("[\"Open_vSwitch\",{}", &ops[1..]);
        let o = Proc::new("ovsdb-client")
            .arg("transact")
            .arg(format!("unix:{}", self.sock.display()))
            .arg(ops)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    }

    /// Number of records in the database file: ovsdb-server appends one per committed
    /// transaction.
    fn records(&self) -> usize {
        let o = Proc::new("ovsdb-tool")
            .arg("show-log")
            .arg(self.dir.path().join("conf.db"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.starts_with("record "))
            .count()
    }

    fn select(&self, table: &str, columns: &str) -> Vec<Value> {
        let r = self.transact(&format!(
            r#"[{{"op":"select","table":"{table}","where":[],"columns":{columns}}}]"#
        ));
        r[0]["rows"].as_array().unwrap().clone()
    }

    fn ports(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .select("Port", r#"["name"]"#)
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    }

    fn hw_offload(&self) -> Value {
        self.select("Open_vSwitch", r#"["other_config"]"#)[0]["other_config"].clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Proc::new("kill").arg(self.pid.to_string()).status();
    }
}

#[test]
fn socket_absent_fails_the_run_with_a_clear_message_exit_1() {
    let f = configured();
    let out = cmd("vf-post", &f).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot connect to the OVSDB server at ")
            && err.contains("/run/openvswitch/db.sock (no such socket: Open vSwitch is not installed (openvswitch-switch) or ovsdb-server is not running)"),
        "{err}"
    );
    assert!(f.path("run/sriov-offload/failed").exists(), "failed marker");
    assert!(!f.path("run/sriov-offload/ready").exists());
    // the plan shows what was not done
    let out = cmd("vf-post", &f).arg("--dry-run").output().unwrap();
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(
        plan.contains("ens1f0: set Open_vSwitch other_config:hw-offload=true"),
        "{plan}"
    );
    assert!(
        plan.contains("ens1f0: create OVS bridge br-offload"),
        "{plan}"
    );
    assert!(plan.contains("ens1f0: OVS bridge br-offload: ports for the uplink ens1f0 and the representors of VFs 0-3"), "{plan}");

    let out = cmd("sriov-offload-ovs", &f).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot connect to the OVSDB server"), "{err}");
}

#[test]
fn ovs_bin_exits_2_on_every_bad_ovs_config() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-config");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !name.contains("-ovs-") {
            continue;
        }
        let f = Fixture::new();
        let text = std::fs::read_to_string(&p).unwrap();
        f.config(&text);
        let expect = text
            .lines()
            .next()
            .unwrap()
            .strip_prefix("# expect:")
            .unwrap()
            .trim();
        let out = cmd("sriov-offload-ovs", &f).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(expect), "{name}: {err}");
        n += 1;
    }
    assert!(n >= 15, "only {n} ovs cases");
}

#[test]
fn vf_post_puts_uplink_and_representors_in_the_bridge_once_and_removes_stale_ports() {
    let f = configured();
    let Some(srv) = Server::start(&f) else { return };
    // a port of an earlier boot's representor that is gone, and a port that is not ours
    srv.transact(r#"[
        {"op":"insert","table":"Interface","row":{"name":"gone0"},"uuid-name":"i1"},
        {"op":"insert","table":"Port","row":{"name":"gone0","interfaces":["named-uuid","i1"],
          "external_ids":["map",[["sriov-offload-pf","pci/0000:3b:00.0"]]]},"uuid-name":"p1"},
        {"op":"insert","table":"Interface","row":{"name":"tap0"},"uuid-name":"i2"},
        {"op":"insert","table":"Port","row":{"name":"tap0","interfaces":["named-uuid","i2"]},"uuid-name":"p2"},
        {"op":"insert","table":"Interface","row":{"name":"br-offload","type":"internal"},"uuid-name":"i3"},
        {"op":"insert","table":"Port","row":{"name":"br-offload","interfaces":["named-uuid","i3"]},"uuid-name":"p3"},
        {"op":"insert","table":"Bridge","row":{"name":"br-offload","ports":["set",[["named-uuid","p1"],["named-uuid","p2"],["named-uuid","p3"]]]},"uuid-name":"b"},
        {"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["bridges","insert",["set",[["named-uuid","b"]]]]]}
    ]"#);

    let out = cmd("vf-post", &f).arg("-v").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("ens1f0: set Open_vSwitch other_config:hw-offload=true"),
        "{err}"
    );
    assert!(
        err.contains("ens1f0: OVS bridge br-offload: add ports ens1f0, ens1f0_0, ens1f0_1, ens1f0_2, ens1f0_3; remove stale ports gone0"),
        "{err}"
    );
    // two OVSDB transactions, the unmanaged-VFs switch, the VF map, the PF's state and the
    // ready marker
    assert!(err.contains("2 step(s), 6 write(s)"), "{err}");
    assert_eq!(
        srv.ports(),
        [
            "br-offload",
            "ens1f0",
            "ens1f0_0",
            "ens1f0_1",
            "ens1f0_2",
            "ens1f0_3",
            "tap0"
        ]
    );
    assert_eq!(
        srv.hw_offload(),
        serde_json::json!(["map", [["hw-offload", "true"]]])
    );
    let map: Value = serde_json::from_str(&f.read("run/sriov-offload/vf-map.json")).unwrap();
    assert_eq!(map[2]["representor"], "ens1f0_2");
    assert_eq!(map[2]["ovs_bridge"], "br-offload");
    assert!(f.path("run/sriov-offload/ready").exists());

    // a rerun reads, commits nothing
    let before = srv.records();
    let out = cmd("vf-post", &f).arg("-v").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("0 step(s), 0 write(s)"), "{err}");
    assert_eq!(srv.records(), before, "the rerun committed a transaction");
    let out = cmd("sriov-offload-ovs", &f).arg("-v").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already true"));
    assert_eq!(srv.records(), before);

    // fewer representors wanted: the ports of VFs 2 and 3 go, nothing else
    f.config(&CONFIG.replace("create_bridge = true", "representors = [0, 1]"));
    let out = cmd("vf-post", &f).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("remove stale ports ens1f0_2, ens1f0_3"),
        "{err}"
    );
    assert_eq!(srv.records(), before + 1, "one transaction");
    assert_eq!(
        srv.ports(),
        ["br-offload", "ens1f0", "ens1f0_0", "ens1f0_1", "tap0"]
    );
}

#[test]
fn ovs_bin_sets_hw_offload_before_vswitchd_and_only_once() {
    let f = configured();
    let Some(srv) = Server::start(&f) else { return };
    srv.transact(r#"[{"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["other_config","insert",["map",[["hw-offload","false"],["max-idle","30000"]]]]]}]"#);
    let out = cmd("sriov-offload-ovs", &f).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("set Open_vSwitch other_config:hw-offload=true (was \"false\") before ovs-vswitchd starts"),
        "{err}"
    );
    assert_eq!(
        srv.hw_offload(),
        serde_json::json!(["map", [["hw-offload", "true"], ["max-idle", "30000"]]])
    );
    // hw_offload = false: left alone
    f.config(&format!("{CONFIG}\n[ovs]\nhw_offload = false\n"));
    srv.transact(r#"[{"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["other_config","delete",["set",["hw-offload"]]]]}]"#);
    let before = srv.records();
    cmd("sriov-offload-ovs", &f).assert().success();
    assert_eq!(srv.records(), before);
}

#[test]
fn an_eswitch_change_of_a_bridge_port_is_planned_between_detach_and_reattach() {
    let f = Fixture::new();
    f.add_pf(&Pf {
        numvfs: 4,
        vf_driver: Some("mlx5_core"),
        ..Pf::new("ens1f0", "0000:3b:00.0")
    });
    f.config(CONFIG);
    let Some(srv) = Server::start(&f) else { return };
    srv.transact(r#"[
        {"op":"insert","table":"Interface","row":{"name":"ens1f0"},"uuid-name":"i1"},
        {"op":"insert","table":"Port","row":{"name":"ens1f0","tag":100,"interfaces":["named-uuid","i1"]},"uuid-name":"p1"},
        {"op":"insert","table":"Bridge","row":{"name":"vmbr0","ports":["named-uuid","p1"]},"uuid-name":"b"},
        {"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["bridges","insert",["set",[["named-uuid","b"]]]]]}
    ]"#);
    let out = cmd("vf-post", &f).arg("--dry-run").output().unwrap();
    let plan = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = plan.lines().collect();
    let at = |s: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(s))
            .unwrap_or_else(|| panic!("{s:?} not in:\n{plan}"))
    };
    let detach = at("ens1f0: detach ens1f0 from OVS bridge vmbr0 for the eswitch mode change");
    let mode = at("ens1f0: set eswitch mode switchdev");
    let reattach = at("ens1f0: re-attach ens1f0 to OVS bridge vmbr0 as it was");
    assert!(detach + 1 == mode && mode + 1 == reattach, "{plan}");
    // the uplink is another bridge's port: ours cannot take it, and the run will say so
    assert!(plan.contains("ens1f0: OVS bridge br-offload: ports for the uplink ens1f0 and the representors of VFs 0-3"), "{plan}");
}

#[test]
fn the_readme_proxmox_example_is_a_valid_config() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    // the Proxmox host's config: the example with an `ovs` bridge (the networkd one has none)
    let start = readme
        .match_indices("# /etc/sriov-offload/config.toml\n")
        .map(|(i, _)| i)
        .find(|&i| {
            readme[i..]
                .split("```")
                .next()
                .unwrap_or("")
                .contains("ovs = {")
        })
        .expect("the Proxmox example in README.md");
    let toml = &readme[start..];
    let toml = &toml[..toml.find("```").unwrap()];
    let cfg = sriov_offload::config::parse_str(Path::new("README.md"), toml).unwrap();
    let pf = &cfg.pfs[0];
    assert_eq!(pf.ovs.as_ref().unwrap().bridge.as_str(), "vmbr2");
    assert_eq!(pf.vf.len(), 2);
    assert!(cfg.ovs.hw_offload && pf.hw_tc_offload);
}
