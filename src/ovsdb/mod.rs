//! A small OVSDB client: RFC 7047 JSON-RPC 1.0 (`transact`, answering the server's `echo`)
//! over any byte stream, with serde_json. The stream is the OVSDB server's unix socket (opened
//! by the `ovs` facade); tests replay requests and responses recorded from a real
//! ovsdb-server. [`vswitch`] is the typed layer over the `Open_vSwitch` schema: the rows we read
//! and the operations we send. No `ovs-vsctl`: it would be one process and one round of
//! vswitchd reconfiguration per call, and its output is for humans.

pub mod vswitch;

#[cfg(test)]
mod recorded;

use std::io::{self, Read, Write};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

/// A JSON-RPC session. Requests are numbered from 0; replies are matched by id.
pub struct Client<S> {
    stream: S,
    buf: Vec<u8>,
    next_id: u64,
    /// Where the peer is, for messages (the socket path).
    peer: String,
}

impl<S: Read + Write> Client<S> {
    pub fn new(stream: S, peer: impl Into<String>) -> Client<S> {
        Client {
            stream,
            buf: vec![],
            next_id: 0,
            peer: peer.into(),
        }
    }

    /// RFC 7047 §4.1.3 `transact`: the operations in order, atomically. Returns one result
    /// per operation; an operation's error (or the commit's) is an error naming it.
    pub fn transact(&mut self, db: &str, ops: &[Value]) -> Result<Vec<Value>> {
        let mut params = vec![json!(db)];
        params.extend(ops.iter().cloned());
        let result = self.call("transact", Value::Array(params))?;
        let Value::Array(results) = result else {
            bail!(
                "{}: transact answered {result} instead of an array",
                self.peer
            );
        };
        for (i, r) in results.iter().enumerate() {
            let Some(err) = r.get("error").filter(|e| !e.is_null()) else {
                continue;
            };
            let what = match ops.get(i) {
                Some(op) => format!(
                    "operation {} ({} {})",
                    i + 1,
                    op["op"].as_str().unwrap_or("?"),
                    op["table"].as_str().unwrap_or("")
                ),
                // RFC 7047: one more result than operations reports a commit failure
                None => "the commit".to_string(),
            };
            let details = r.get("details").and_then(Value::as_str).unwrap_or("");
            bail!(
                "{}: {what} failed: {}{}{details}",
                self.peer,
                err.as_str().unwrap_or("error"),
                if details.is_empty() { "" } else { ": " }
            );
        }
        if results.len() < ops.len() {
            bail!(
                "{}: transact answered {} results for {} operations",
                self.peer,
                results.len(),
                ops.len()
            );
        }
        Ok(results)
    }

    /// Sends a request and waits for its reply, answering `echo` requests meanwhile.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"method": method, "params": params, "id": id}))?;
        loop {
            let msg = self.recv()?;
            if msg.get("method").and_then(Value::as_str) == Some("echo") {
                let reply = json!({"result": msg["params"], "error": null, "id": msg["id"]});
                self.send(&reply)?;
                continue;
            }
            if msg.get("method").is_some() {
                // a notification (monitor updates): not asked for, not ours
                continue;
            }
            if msg.get("id") != Some(&json!(id)) {
                continue;
            }
            if let Some(err) = msg.get("error").filter(|e| !e.is_null()) {
                bail!("{}: {method} failed: {err}", self.peer);
            }
            return msg
                .get("result")
                .cloned()
                .ok_or_else(|| anyhow!("{}: reply to {method} has no result", self.peer));
        }
    }

    fn send(&mut self, msg: &Value) -> Result<()> {
        let bytes = serde_json::to_vec(msg).context("encoding a JSON-RPC message")?;
        self.stream
            .write_all(&bytes)
            .and_then(|()| self.stream.flush())
            .with_context(|| format!("{}: sending a request", self.peer))
    }

    /// The next JSON value on the stream. RFC 7047 messages are JSON objects back to back,
    /// with no framing: parse what has arrived, read more while it is incomplete.
    fn recv(&mut self) -> Result<Value> {
        loop {
            let mut it = serde_json::Deserializer::from_slice(&self.buf).into_iter::<Value>();
            match it.next() {
                Some(Ok(v)) => {
                    let used = it.byte_offset();
                    self.buf.drain(..used);
                    return Ok(v);
                }
                Some(Err(e)) if !e.is_eof() => {
                    return Err(e).with_context(|| format!("{}: malformed JSON", self.peer))
                }
                // nothing yet, only whitespace, or a message cut short: read on
                _ => {}
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = match self.stream.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(e).with_context(|| format!("{}: no answer in time", self.peer))
                }
                Err(e) => return Err(e).with_context(|| format!("{}: reading", self.peer)),
            };
            if n == 0 {
                bail!("{}: the server closed the connection", self.peer);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[cfg(test)]
pub(crate) mod replay {
    //! A stream that plays back a server's recorded bytes and keeps what the client wrote.
    use std::io::{self, Read, Write};

    pub struct Replay {
        input: io::Cursor<Vec<u8>>,
        /// Bytes per read, to cut messages at awkward places.
        chunk: usize,
        pub output: Vec<u8>,
    }

    impl Replay {
        pub fn new(server_bytes: &str, chunk: usize) -> Replay {
            Replay {
                input: io::Cursor::new(server_bytes.as_bytes().to_vec()),
                chunk,
                output: vec![],
            }
        }
        /// The JSON values the client sent.
        pub fn sent(&self) -> Vec<serde_json::Value> {
            serde_json::Deserializer::from_slice(&self.output)
                .into_iter()
                .collect::<Result<_, _>>()
                .unwrap()
        }
    }

    impl Read for Replay {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.chunk);
            self.input.read(&mut buf[..n])
        }
    }
    impl Write for Replay {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.output.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::replay::Replay;
    use super::*;

    #[test]
    fn replies_split_across_reads_and_echo_requests_are_handled() {
        // the server asks for an echo before answering; the reply comes 3 bytes at a time
        let server = r#"{"id":"echo","method":"echo","params":[]}
            {"id":0,"result":[{"rows":[]}],"error":null}"#;
        let mut c = Client::new(Replay::new(server, 3), "test");
        let ops = [json!({"op": "select", "table": "Bridge", "where": []})];
        let r = c.transact("Open_vSwitch", &ops).unwrap();
        assert_eq!(r, vec![json!({"rows": []})]);
        let sent = c.stream.sent();
        assert_eq!(sent[0]["method"], "transact");
        assert_eq!(sent[0]["params"][0], "Open_vSwitch");
        assert_eq!(sent[1], json!({"id": "echo", "result": [], "error": null}));
    }

    #[test]
    fn an_operation_error_names_the_operation() {
        let server = r#"{"id":0,"result":[{"uuid":["uuid","9c7d1c1e-1b7a-4b0c-8c1f-4a0b6f5e2a11"]},{"error":"constraint violation","details":"Transaction causes multiple rows in \"Port\" table to have identical values (\"eth3\") for index on column \"name\"."}],"error":null}"#;
        let mut c = Client::new(Replay::new(server, 4096), "/run/openvswitch/db.sock");
        let ops = [
            json!({"op": "insert", "table": "Interface", "row": {}}),
            json!({"op": "insert", "table": "Port", "row": {}}),
        ];
        let e = c.transact("Open_vSwitch", &ops).unwrap_err().to_string();
        assert!(
            e.starts_with("/run/openvswitch/db.sock: operation 2 (insert Port) failed: constraint violation: Transaction causes"),
            "{e}"
        );
    }

    #[test]
    fn a_closed_connection_is_an_error_not_a_hang() {
        let mut c = Client::new(Replay::new(r#"{"id":0,"res"#, 4096), "sock");
        let e = c.call("list_dbs", json!([])).unwrap_err().to_string();
        assert!(e.contains("closed the connection"), "{e}");
    }
}
