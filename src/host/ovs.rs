//! Open vSwitch, as far as `check` needs it: is it installed, and what does its database say
//! in `Open_vSwitch.other_config` (`hw-offload`)? OVSDB speaks JSON-RPC (RFC 7047) on
//! `/run/openvswitch/db.sock`; one `transact` with a `select` reads the row. Reads only.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

use super::Host;

/// `ovs-vswitchd`, whose presence means OVS is installed.
const VSWITCHD: &str = "/usr/sbin/ovs-vswitchd";

impl Host {
    pub fn ovs_installed(&self) -> bool {
        self.installed(VSWITCHD)
    }

    fn ovsdb_socket(&self) -> PathBuf {
        self.run("openvswitch/db.sock")
    }

    /// `other_config` of the `Open_vSwitch` table's row; `None` when the database is not
    /// running (no socket).
    pub fn ovs_other_config(&self) -> Result<Option<BTreeMap<String, String>>> {
        let p = self.ovsdb_socket();
        if !self.exists(&p) {
            return Ok(None);
        }
        let ctx = || format!("asking OVSDB at {}", p.display());
        let mut s = UnixStream::connect(&p).with_context(ctx)?;
        s.set_read_timeout(Some(Duration::from_secs(2)))
            .with_context(ctx)?;
        s.set_write_timeout(Some(Duration::from_secs(2)))
            .with_context(ctx)?;
        let req = json!({
            "id": 0,
            "method": "transact",
            "params": ["Open_vSwitch", {
                "op": "select", "table": "Open_vSwitch", "where": [], "columns": ["other_config"]
            }]
        });
        s.write_all(req.to_string().as_bytes()).with_context(ctx)?;
        // replies are JSON objects back to back on the stream; ours has id 0
        let mut stream = serde_json::Deserializer::from_reader(&s).into_iter::<Value>();
        let reply = loop {
            let v = stream
                .next()
                .ok_or_else(|| anyhow!("the connection closed without a reply"))
                .and_then(|r| r.map_err(anyhow::Error::from))
                .with_context(ctx)?;
            if v.get("id") == Some(&json!(0)) {
                break v;
            }
        };
        if let Some(e) = reply.get("error").filter(|e| !e.is_null()) {
            bail!("{}: {e}", ctx());
        }
        parse_other_config(&reply).with_context(ctx).map(Some)
    }
}

/// `{"result":[{"rows":[{"other_config":["map",[["k","v"],…]]}]}]}` → `{k: v}`.
fn parse_other_config(reply: &Value) -> Result<BTreeMap<String, String>> {
    let map = reply
        .pointer("/result/0/rows/0/other_config")
        .ok_or_else(|| anyhow!("no Open_vSwitch row in the reply: {reply}"))?;
    let pairs = match map.as_array().map(|a| a.as_slice()) {
        Some([tag, Value::Array(pairs)]) if tag == "map" => pairs,
        _ => bail!("other_config is not an OVSDB map: {map}"),
    };
    Ok(pairs
        .iter()
        .filter_map(|p| {
            let p = p.as_array()?;
            Some((
                p.first()?.as_str()?.to_string(),
                p.get(1)?.as_str()?.to_string(),
            ))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_config_map_of_a_transact_reply() {
        let r: Value = serde_json::from_str(
            r#"{"id":0,"result":[{"rows":[{"other_config":["map",[["hw-offload","true"],["tc-policy","skip_sw"]]]}]}],"error":null}"#,
        )
        .unwrap();
        let m = parse_other_config(&r).unwrap();
        assert_eq!(m["hw-offload"], "true");
        assert_eq!(m.len(), 2);
    }
}
