//! The `Open_vSwitch` database as sriov-offload uses it: one read of the root row's
//! `other_config` and of every bridge, port and interface (one `transact` of four `select`s, a
//! consistent snapshot that commits nothing), and the write transactions, each built here as
//! the operations `ovs-vsctl` would send (RFC 7047 §5.2: `insert` with `uuid-name`, `mutate`).
//!
//! Ports and interfaces are not root tables: a port that no bridge references is deleted by the
//! server, its interfaces with it, so removing a port is one `mutate` of the bridge's `ports`.
//! Ports we add carry `external_ids:sriov-offload-pf` (the PF's device, `pci/0000:3b:00.0`): that
//! is how a later run knows a port is ours when its representor no longer exists.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use serde_json::{json, Value};

pub const DB: &str = "Open_vSwitch";
/// The `other_config` key ovs-vswitchd reads at start to enable flow offload to the NIC.
pub const HW_OFFLOAD: &str = "hw-offload";
/// `external_ids` key on ports we add: the PF's devlink handle (`bus/device`).
pub const OWNER_KEY: &str = "sriov-offload-pf";
/// `external_ids` key on representor ports we add: the VF index.
pub const VF_KEY: &str = "sriov-offload-vf";

/// A row's `_uuid`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Uuid(pub String);

/// The database as we read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// The `Open_vSwitch` table's single row.
    pub root: Uuid,
    pub other_config: BTreeMap<String, String>,
    pub bridges: Vec<Bridge>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Bridge {
    pub uuid: Uuid,
    pub name: String,
    pub ports: Vec<Port>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Port {
    pub uuid: Uuid,
    pub spec: PortSpec,
}

/// What a port is, without its row identity: enough to put it back as it was after an
/// eswitch mode change (name, VLAN settings, ids, its interfaces' type and options).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortSpec {
    pub name: String,
    pub tag: Option<i64>,
    pub trunks: Vec<i64>,
    pub vlan_mode: Option<String>,
    pub external_ids: BTreeMap<String, String>,
    pub other_config: BTreeMap<String, String>,
    pub interfaces: Vec<InterfaceSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InterfaceSpec {
    pub name: String,
    /// `""` is a system interface (a netdev), `internal` a bridge's own port.
    pub kind: String,
    pub options: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
}

impl PortSpec {
    /// A port of one system interface, as `ovs-vsctl add-port BRIDGE NAME` makes it.
    pub fn system(name: &str, external_ids: BTreeMap<String, String>) -> PortSpec {
        PortSpec {
            name: name.to_string(),
            tag: None,
            trunks: vec![],
            vlan_mode: None,
            external_ids,
            other_config: BTreeMap::new(),
            interfaces: vec![InterfaceSpec {
                name: name.to_string(),
                kind: String::new(),
                options: BTreeMap::new(),
                external_ids: BTreeMap::new(),
            }],
        }
    }

    /// The PF device (`OWNER_KEY`) this port was added for, if we added it.
    pub fn owner(&self) -> Option<&str> {
        self.external_ids.get(OWNER_KEY).map(String::as_str)
    }
}

impl Snapshot {
    pub fn bridge(&self, name: &str) -> Option<&Bridge> {
        self.bridges.iter().find(|b| b.name == name)
    }

    /// The bridge and port that have an interface named `ifname`.
    pub fn port_of_interface(&self, ifname: &str) -> Option<(&Bridge, &Port)> {
        self.bridges.iter().find_map(|b| {
            b.ports
                .iter()
                .find(|p| p.spec.interfaces.iter().any(|i| i.name == ifname))
                .map(|p| (b, p))
        })
    }

    pub fn hw_offload(&self) -> Option<&str> {
        self.other_config.get(HW_OFFLOAD).map(String::as_str)
    }
}

// --- the read ---

const PORT_COLUMNS: [&str; 8] = [
    "_uuid",
    "name",
    "interfaces",
    "tag",
    "trunks",
    "vlan_mode",
    "external_ids",
    "other_config",
];
const INTERFACE_COLUMNS: [&str; 5] = ["_uuid", "name", "type", "options", "external_ids"];

/// The four `select`s of [`parse_read`].
pub fn read_ops() -> Vec<Value> {
    let select = |table: &str, columns: &[&str]| json!({"op": "select", "table": table, "where": [], "columns": columns});
    vec![
        select(DB, &["_uuid", "other_config", "bridges"]),
        select("Bridge", &["_uuid", "name", "ports"]),
        select("Port", &PORT_COLUMNS),
        select("Interface", &INTERFACE_COLUMNS),
    ]
}

fn rows(r: &Value) -> Result<&Vec<Value>> {
    r.get("rows")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("a select answered {r} without rows"))
}

/// The snapshot from the results of [`read_ops`]. Bridges in the root row's order; ports and
/// interfaces as each row lists them. Rows nothing references (being collected) are left out.
pub fn parse_read(results: &[Value]) -> Result<Snapshot> {
    let [root, bridges, ports, ifaces] = results else {
        bail!("expected 4 results, got {}", results.len());
    };
    let root_rows = rows(root)?;
    let [root] = root_rows.as_slice() else {
        bail!(
            "the Open_vSwitch table has {} rows, not 1 (database not initialised: ovs-vsctl init)",
            root_rows.len()
        );
    };
    let mut iface_by_uuid = BTreeMap::new();
    for r in rows(ifaces)? {
        iface_by_uuid.insert(
            uuid(&r["_uuid"])?,
            InterfaceSpec {
                name: string(&r["name"])?,
                kind: string(&r["type"])?,
                options: map(&r["options"])?,
                external_ids: map(&r["external_ids"])?,
            },
        );
    }
    let mut port_by_uuid = BTreeMap::new();
    for r in rows(ports)? {
        let u = uuid(&r["_uuid"])?;
        let interfaces = set(&r["interfaces"])?
            .iter()
            .map(|i| {
                let iu = uuid(i)?;
                iface_by_uuid
                    .get(&iu)
                    .cloned()
                    .ok_or_else(|| anyhow!("port references unknown interface {}", iu.0))
            })
            .collect::<Result<Vec<_>>>()?;
        let spec = PortSpec {
            name: string(&r["name"])?,
            tag: set(&r["tag"])?.first().and_then(Value::as_i64),
            trunks: set(&r["trunks"])?
                .iter()
                .filter_map(Value::as_i64)
                .collect(),
            vlan_mode: set(&r["vlan_mode"])?
                .first()
                .and_then(Value::as_str)
                .map(String::from),
            external_ids: map(&r["external_ids"])?,
            other_config: map(&r["other_config"])?,
            interfaces,
        };
        port_by_uuid.insert(u.clone(), Port { uuid: u, spec });
    }
    let mut bridge_by_uuid = BTreeMap::new();
    for r in rows(bridges)? {
        let u = uuid(&r["_uuid"])?;
        let mut ports = set(&r["ports"])?
            .iter()
            .map(|p| {
                let pu = uuid(p)?;
                port_by_uuid
                    .get(&pu)
                    .cloned()
                    .ok_or_else(|| anyhow!("bridge references unknown port {}", pu.0))
            })
            .collect::<Result<Vec<_>>>()?;
        ports.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        bridge_by_uuid.insert(
            u.clone(),
            Bridge {
                uuid: u,
                name: string(&r["name"])?,
                ports,
            },
        );
    }
    let mut bridges = set(&root["bridges"])?
        .iter()
        .map(|b| {
            let bu = uuid(b)?;
            bridge_by_uuid
                .get(&bu)
                .cloned()
                .ok_or_else(|| anyhow!("Open_vSwitch references unknown bridge {}", bu.0))
        })
        .collect::<Result<Vec<_>>>()?;
    bridges.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Snapshot {
        root: uuid(&root["_uuid"])?,
        other_config: map(&root["other_config"])?,
        bridges,
    })
}

// --- RFC 7047 §5.1 notation ---

fn string(v: &Value) -> Result<String> {
    v.as_str()
        .map(String::from)
        .ok_or_else(|| anyhow!("expected a string, got {v}"))
}

fn uuid(v: &Value) -> Result<Uuid> {
    match v.as_array().map(Vec::as_slice) {
        Some([t, Value::String(u)]) if t == "uuid" => Ok(Uuid(u.clone())),
        _ => bail!("expected [\"uuid\", …], got {v}"),
    }
}

/// A set: `["set", [atoms]]`, or a single atom standing for a set of one.
fn set(v: &Value) -> Result<Vec<Value>> {
    match v.as_array().map(Vec::as_slice) {
        Some([t, Value::Array(items)]) if t == "set" => Ok(items.clone()),
        Some(_) | None if v.is_null() => bail!("expected a set, got null"),
        _ => Ok(vec![v.clone()]),
    }
}

/// A string→string map: `["map", [[k, v], …]]`.
fn map(v: &Value) -> Result<BTreeMap<String, String>> {
    let pairs = match v.as_array().map(Vec::as_slice) {
        Some([t, Value::Array(p)]) if t == "map" => p,
        _ => bail!("expected [\"map\", …], got {v}"),
    };
    pairs
        .iter()
        .map(|p| match p.as_array().map(Vec::as_slice) {
            Some([Value::String(k), Value::String(v)]) => Ok((k.clone(), v.clone())),
            _ => bail!("expected a string pair in a map, got {p}"),
        })
        .collect()
}

fn map_value(m: &BTreeMap<String, String>) -> Value {
    json!([
        "map",
        m.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()
    ])
}

fn set_value(items: Vec<Value>) -> Value {
    json!(["set", items])
}

fn uuid_value(u: &Uuid) -> Value {
    json!(["uuid", u.0])
}

fn comment(text: &str) -> Value {
    // shown by `ovsdb-tool show-log`: who changed the database, and why
    json!({"op": "comment", "comment": format!("sriov-offload: {text}")})
}

fn by_uuid(u: &Uuid) -> Value {
    json!([["_uuid", "==", uuid_value(u)]])
}

// --- the writes ---

/// `ovs-vsctl set Open_vSwitch . other_config:KEY=VALUE`: delete the key, insert it.
pub fn set_other_config_ops(root: &Uuid, key: &str, value: &str) -> Vec<Value> {
    vec![
        json!({
            "op": "mutate",
            "table": DB,
            "where": by_uuid(root),
            "mutations": [
                ["other_config", "delete", set_value(vec![json!(key)])],
                ["other_config", "insert", json!(["map", [[key, value]]])],
            ],
        }),
        comment(&format!("other_config:{key}={value}")),
    ]
}

/// Inserts each port (and its interfaces) and adds them to the bridge's `ports`: one
/// transaction. A name another port already has fails the whole transaction (the `Port` and
/// `Interface` tables have a unique index on `name`).
pub fn add_ports_ops(bridge: &Uuid, bridge_name: &str, ports: &[PortSpec]) -> Vec<Value> {
    let mut ops = vec![];
    let mut port_refs = vec![];
    for (i, p) in ports.iter().enumerate() {
        let mut iface_refs = vec![];
        for (j, iface) in p.interfaces.iter().enumerate() {
            let id = format!("iface{i}_{j}");
            let mut row = json!({"name": iface.name});
            if !iface.kind.is_empty() {
                row["type"] = json!(iface.kind);
            }
            if !iface.options.is_empty() {
                row["options"] = map_value(&iface.options);
            }
            if !iface.external_ids.is_empty() {
                row["external_ids"] = map_value(&iface.external_ids);
            }
            ops.push(json!({"op": "insert", "table": "Interface", "row": row, "uuid-name": id}));
            iface_refs.push(json!(["named-uuid", id]));
        }
        let id = format!("port{i}");
        let mut row = json!({"name": p.name, "interfaces": set_value(iface_refs)});
        if let Some(t) = p.tag {
            row["tag"] = json!(t);
        }
        if !p.trunks.is_empty() {
            row["trunks"] = set_value(p.trunks.iter().map(|t| json!(t)).collect());
        }
        if let Some(m) = &p.vlan_mode {
            row["vlan_mode"] = json!(m);
        }
        if !p.external_ids.is_empty() {
            row["external_ids"] = map_value(&p.external_ids);
        }
        if !p.other_config.is_empty() {
            row["other_config"] = map_value(&p.other_config);
        }
        ops.push(json!({"op": "insert", "table": "Port", "row": row, "uuid-name": id}));
        port_refs.push(json!(["named-uuid", id]));
    }
    ops.push(json!({
        "op": "mutate",
        "table": "Bridge",
        "where": by_uuid(bridge),
        "mutations": [["ports", "insert", set_value(port_refs)]],
    }));
    let names: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
    ops.push(comment(&format!(
        "add-port {bridge_name} {}",
        names.join(" ")
    )));
    ops
}

/// Removes ports from the bridge's `ports` (the server then deletes them and their
/// interfaces): one transaction.
pub fn del_ports_ops(bridge: &Uuid, bridge_name: &str, ports: &[&Port]) -> Vec<Value> {
    let names: Vec<&str> = ports.iter().map(|p| p.spec.name.as_str()).collect();
    vec![
        json!({
            "op": "mutate",
            "table": "Bridge",
            "where": by_uuid(bridge),
            "mutations": [["ports", "delete", set_value(ports.iter().map(|p| uuid_value(&p.uuid)).collect())]],
        }),
        comment(&format!("del-port {bridge_name} {}", names.join(" "))),
    ]
}

/// `ovs-vsctl add-br NAME`: the bridge with its internal port of the same name.
pub fn add_bridge_ops(root: &Uuid, name: &str) -> Vec<Value> {
    vec![
        json!({"op": "insert", "table": "Interface", "row": {"name": name, "type": "internal"}, "uuid-name": "iface"}),
        json!({"op": "insert", "table": "Port", "row": {"name": name, "interfaces": ["named-uuid", "iface"]}, "uuid-name": "port"}),
        json!({"op": "insert", "table": "Bridge", "row": {"name": name, "ports": ["named-uuid", "port"]}, "uuid-name": "bridge"}),
        json!({
            "op": "mutate",
            "table": DB,
            "where": by_uuid(root),
            "mutations": [["bridges", "insert", set_value(vec![json!(["named-uuid", "bridge"])])]],
        }),
        comment(&format!("add-br {name}")),
    ]
}

/// Reads the snapshot through `client`.
pub fn read<S: std::io::Read + std::io::Write>(client: &mut super::Client<S>) -> Result<Snapshot> {
    let r = client.transact(DB, &read_ops())?;
    parse_read(&r).context("reading the Open_vSwitch database")
}
