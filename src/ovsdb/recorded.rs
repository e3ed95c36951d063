//! The client against request/response pairs recorded from a real ovsdb-server (Open vSwitch
//! 3.1, Debian bookworm's, with the `vswitch.ovsschema` it ships) in `tests/ovsdb/`: each
//! request our code builds must be the one recorded, and each recorded reply must parse into
//! what the server did. The sequence is a fresh database (`ovsdb-tool create` + an empty root
//! row, as `ovs-vsctl init` leaves it) taken through the operations vf-post performs.
//!
//! To re-record, start an ovsdb-server on a fresh database and point the recorder at it:
//!
//! ```sh
//! ovsdb-tool create /tmp/r/conf.db /usr/share/openvswitch/vswitch.ovsschema
//! ovsdb-server --remote=punix:/tmp/r/db.sock --unixctl=/tmp/r/ctl --detach /tmp/r/conf.db
//! ovsdb-client transact unix:/tmp/r/db.sock '["Open_vSwitch",{"op":"insert","table":"Open_vSwitch","row":{}}]'
//! OVSDB_RECORD=/tmp/r/db.sock cargo test --lib record_against_a_real_server -- --ignored
//! ```

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;

use serde_json::{json, Value};

use super::replay::Replay;
use super::vswitch::{self, PortSpec, Snapshot};
use super::Client;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ovsdb")
}

fn owner(vf: Option<u32>) -> BTreeMap<String, String> {
    let mut m = BTreeMap::from([(
        vswitch::OWNER_KEY.to_string(),
        "netdevsim/netdevsim1".to_string(),
    )]);
    if let Some(v) = vf {
        m.insert(vswitch::VF_KEY.to_string(), v.to_string());
    }
    m
}

/// The steps of the recorded session, given the database as the previous steps left it:
/// the operations of step `name`.
fn step(name: &str, db: &Snapshot) -> Vec<Value> {
    let br = || db.bridge("br-offload").expect("br-offload exists by now");
    match name {
        "01-read-fresh"
        | "04-read-new-bridge"
        | "06-read-bridge-with-ports"
        | "09-read-after-del" => vswitch::read_ops(),
        "02-set-hw-offload" => vswitch::set_other_config_ops(&db.root, vswitch::HW_OFFLOAD, "true"),
        "03-add-bridge" => vswitch::add_bridge_ops(&db.root, "br-offload"),
        "05-add-ports" => vswitch::add_ports_ops(
            &br().uuid,
            "br-offload",
            &[
                PortSpec::system("eth2", owner(None)),
                PortSpec::system("eth3", owner(Some(0))),
                PortSpec::system("eth4", owner(Some(1))),
            ],
        ),
        "07-add-port-duplicate" => vswitch::add_ports_ops(
            &br().uuid,
            "br-offload",
            &[PortSpec::system("eth3", owner(Some(0)))],
        ),
        "08-del-ports" => {
            let p: Vec<_> = br()
                .ports
                .iter()
                .filter(|p| p.spec.name == "eth4")
                .collect();
            vswitch::del_ports_ops(&br().uuid, "br-offload", &p)
        }
        _ => unreachable!("{name}"),
    }
}

const STEPS: [&str; 9] = [
    "01-read-fresh",
    "02-set-hw-offload",
    "03-add-bridge",
    "04-read-new-bridge",
    "05-add-ports",
    "06-read-bridge-with-ports",
    "07-add-port-duplicate",
    "08-del-ports",
    "09-read-after-del",
];

fn is_read(name: &str) -> bool {
    name.contains("-read-")
}

fn empty() -> Snapshot {
    Snapshot {
        root: vswitch::Uuid(String::new()),
        other_config: BTreeMap::new(),
        bridges: vec![],
    }
}

/// Plays the recorded session back: our requests must equal the recorded ones, and the
/// snapshots read must show each write's effect.
#[test]
fn recorded_session_replays() {
    let mut db = empty();
    let mut reads = BTreeMap::new();
    // the root row's uuid comes from the first read; before it, the steps need none
    for name in STEPS {
        let text = std::fs::read_to_string(dir().join(format!("{name}.json")))
            .unwrap_or_else(|e| panic!("tests/ovsdb/{name}.json: {e}"));
        let rec: Value = serde_json::from_str(&text).unwrap();
        let ops = step(name, &db);
        let response = serde_json::to_string(&rec["response"]).unwrap();
        // cut the reply into 7-byte reads: framing must not depend on read boundaries
        let mut c = Client::new(Replay::new(&response, 7), name);
        let res = c.transact(vswitch::DB, &ops);
        let sent = c.stream.sent();
        assert_eq!(
            sent,
            vec![rec["request"].clone()],
            "{name}: the request differs from the recorded one"
        );
        match name {
            "07-add-port-duplicate" => {
                let e = res.unwrap_err().to_string();
                assert!(
                    e.contains("the commit failed: constraint violation"),
                    "{name}: {e}"
                );
                assert!(e.contains("identical values (eth3)"), "{name}: {e}");
            }
            n if is_read(n) => {
                db = vswitch::parse_read(&res.unwrap()).unwrap();
                reads.insert(n, db.clone());
            }
            n => {
                res.unwrap_or_else(|e| panic!("{n}: {e:#}"));
            }
        }
    }
    let fresh = &reads["01-read-fresh"];
    assert!(fresh.bridges.is_empty() && fresh.hw_offload().is_none());
    let full = &reads["06-read-bridge-with-ports"];
    assert_eq!(full.hw_offload(), Some("true"));
    let br = full.bridge("br-offload").unwrap();
    let names: Vec<&str> = br.ports.iter().map(|p| p.spec.name.as_str()).collect();
    assert_eq!(names, ["br-offload", "eth2", "eth3", "eth4"]);
    let eth3 = &br.ports[2].spec;
    assert_eq!(eth3.owner(), Some("netdevsim/netdevsim1"));
    assert_eq!(eth3.external_ids[vswitch::VF_KEY], "0");
    assert_eq!(eth3.interfaces[0].kind, "");
    assert_eq!(br.ports[0].spec.interfaces[0].kind, "internal");
    assert_eq!(
        full.port_of_interface("eth4").map(|(b, _)| b.name.as_str()),
        Some("br-offload")
    );
    let after = &reads["09-read-after-del"];
    let names: Vec<&str> = after.bridges[0]
        .ports
        .iter()
        .map(|p| p.spec.name.as_str())
        .collect();
    assert_eq!(names, ["br-offload", "eth2", "eth3"]);
    assert!(after.port_of_interface("eth4").is_none());
}

/// A stream that copies what passes through it.
struct Tee<S> {
    inner: S,
    read: Vec<u8>,
    written: Vec<u8>,
}

impl<S: Read> Read for Tee<S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}
impl<S: Write> Write for Tee<S> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[test]
#[ignore = "needs a real ovsdb-server: OVSDB_RECORD=SOCKET (see the module doc)"]
fn record_against_a_real_server() {
    let sock = std::env::var("OVSDB_RECORD").expect("OVSDB_RECORD=path of the server's socket");
    std::fs::create_dir_all(dir()).unwrap();
    let mut db = empty();
    for name in STEPS {
        let ops = step(name, &db);
        let s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
        let mut c = Client::new(
            Tee {
                inner: s,
                read: vec![],
                written: vec![],
            },
            &sock,
        );
        let res = c.transact(vswitch::DB, &ops);
        if is_read(name) {
            db = vswitch::parse_read(&res.unwrap()).unwrap();
        }
        let one = |b: &[u8]| -> Value { serde_json::from_slice(b).unwrap() };
        let rec = json!({"request": one(&c.stream.written), "response": one(&c.stream.read)});
        std::fs::write(
            dir().join(format!("{name}.json")),
            serde_json::to_string_pretty(&rec).unwrap() + "\n",
        )
        .unwrap();
    }
}
