//! `status`'s human form: the summary line, one row per PF, each PF's VFs, the differences.

use super::{PfView, Status};
use crate::ops::table::{columns, dash, utc, wrap};

impl Status {
    /// The human form: a summary line, one row per PF, the VFs of each PF, the differences.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let m = &self.marker;
        let marker = match m.state {
            "pending" => "no marker for this boot yet".to_string(),
            state => format!(
                "{state} since {}{}",
                m.time.map_or("?".into(), utc),
                m.error.as_ref().map_or(String::new(), |e| format!(": {e}"))
            ),
        };
        out.push_str(&wrap(
            "",
            &format!(
                "host {}: {} PF(s) configured, marker {marker}",
                if self.host.is_empty() {
                    "?"
                } else {
                    &self.host
                },
                self.pfs.len()
            ),
        ));
        let mut rows = vec![[
            "PF",
            "DEVICE",
            "VFS",
            "ESWITCH",
            "REPS",
            "BOUND",
            "HW-TC",
            "IRQS LOCAL",
            "STATE",
        ]
        .map(String::from)
        .to_vec()];
        for p in &self.pfs {
            let name = p.name.clone().unwrap_or_else(|| p.matcher.clone());
            let ndiff = self
                .differences
                .iter()
                .filter(|d| d.pf.as_deref() == Some(name.as_str()))
                .count();
            let esw = match (&p.eswitch.want, &p.eswitch.have) {
                (Some(w), Some(h)) if w != h => format!("{h}>{w}"),
                (Some(w), None) => format!("none>{w}"),
                (_, h) => dash(h.as_ref()),
            };
            rows.push(vec![
                name,
                dash(p.device.as_ref()),
                format!("{}/{}", p.vfs.have, p.vfs.want),
                esw,
                format!("{}/{}", p.representors.have, p.representors.want),
                match &p.bind {
                    Some(b) if b != "none" => format!("{}/{} {b}", p.bound, p.vfs.want),
                    _ => p.bound.to_string(),
                },
                match p.hw_tc_offload.have {
                    Some(true) => "on".into(),
                    Some(false) => "off".into(),
                    None => "-".into(),
                },
                p.irq.as_ref().map_or("-".into(), |i| {
                    format!("{}/{}", i.on_local_cpus, i.queue_irqs)
                }),
                {
                    let st = if !p.present {
                        "absent".into()
                    } else if ndiff == 0 {
                        "ok".into()
                    } else {
                        format!("{ndiff} difference(s)")
                    };
                    // what the PF's own state file tells consumers, when it is not `ready`
                    match &p.pf_state {
                        Some(f) if f.state != "ready" => format!("{st} (marked {})", f.state),
                        _ => st,
                    }
                },
            ]);
        }
        out.push_str(&columns(&rows));
        out.push_str(
            "(have/want in VFS, REPS and BOUND; ESWITCH have>want; IRQS LOCAL: on local CPUs/all)\n",
        );
        for p in self.pfs.iter().filter(|p| p.present) {
            out.push('\n');
            out.push_str(&pf_text(p));
        }
        out.push('\n');
        if self.differences.is_empty() {
            out.push_str("matches the config\n");
        } else {
            out.push_str(&format!("{} difference(s):\n", self.differences.len()));
            for d in &self.differences {
                let who = d.pf.as_deref().unwrap_or("host");
                out.push_str(&wrap(&format!("  {who}: "), &d.message));
            }
        }
        out
    }
}

fn pf_text(p: &PfView) -> String {
    let name = p.name.as_deref().unwrap_or("?");
    let mut facts = vec![format!("{} ({})", p.matcher, p.origin)];
    if let Some(d) = &p.driver {
        facts.push(format!("driver {d}"));
    }
    if let Some(t) = p.totalvfs {
        facts.push(format!("sriov_totalvfs {t}"));
    }
    if let Some(s) = &p.eswitch_source {
        facts.push(format!("eswitch via {s}"));
    }
    for (key, m) in [
        ("inline-mode", &p.eswitch_inline_mode),
        ("encap-mode", &p.eswitch_encap_mode),
    ] {
        if let Some(m) = m {
            facts.push(format!(
                "eswitch {key} {} (want {})",
                m.have.as_deref().unwrap_or("not reported"),
                m.want.as_deref().unwrap_or("-")
            ));
        }
    }
    if p.autoprobe == Some(false) {
        facts.push("autoprobe off".into());
    }
    if let Some(b) = &p.bond {
        let lag = match b.lag_active {
            Some(true) => ", VF LAG active",
            Some(false) => ", VF LAG not active",
            None => "",
        };
        facts.push(format!("bond {}{lag}", b.name));
    }
    if let Some(i) = p.irq.as_ref().filter(|i| i.queue_irqs == 0) {
        facts.push(format!(
            "no queue IRQs on the PF or its {} VF netdev(s) (none requested yet)",
            i.devices.saturating_sub(1)
        ));
    } else if let Some(i) = &p.irq {
        facts.push(format!(
            "{} queue IRQs on the PF and {} VF netdev(s), {} on the local CPUs {}{}",
            i.queue_irqs,
            i.devices.saturating_sub(1),
            i.on_local_cpus,
            i.local_cpus,
            if i.managed > 0 {
                format!(", {} managed", i.managed)
            } else {
                String::new()
            }
        ));
    }
    facts.push(match &p.lock_holder {
        Some(h) => format!("locked by {h}"),
        None => "not locked".into(),
    });
    let mut out = wrap(&format!("{name}: "), &facts.join("; "));
    if !p.devlink_params.is_empty() {
        let params: Vec<String> = p
            .devlink_params
            .iter()
            .map(|d| {
                format!(
                    "{} {} ({}, want {})",
                    d.name,
                    d.have.as_deref().unwrap_or("?"),
                    d.cmode.as_deref().unwrap_or("?"),
                    d.want
                )
            })
            .collect();
        out.push_str(&wrap("  devlink params: ", &params.join(", ")));
    }
    if p.vf_list.is_empty() {
        return out;
    }
    let guids = p
        .vf_list
        .iter()
        .any(|v| v.node_guid.is_some() || v.port_guid.is_some());
    let mut rows = vec![
        ["VF", "PCI", "DRIVER", "NETDEV", "MAC", "REPRESENTOR", "USE"]
            .map(String::from)
            .to_vec(),
    ];
    for v in &p.vf_list {
        let mut use_ = vec![];
        if v.reserved {
            use_.push("reserved".to_string());
        }
        if let Some(u) = &v.in_use {
            // "VF 3 netdev x is up" → "netdev x is up"
            let u = u.split_once(' ').map_or(u.as_str(), |(_, r)| r);
            let u = u.split_once(' ').map_or(u, |(_, r)| r);
            use_.push(u.to_string());
        }
        rows.push(vec![
            format!("{:>2}", v.index),
            dash(v.pci.as_ref()),
            dash(v.driver.as_ref()),
            dash(v.netdev.as_ref()),
            dash(v.mac.as_ref()),
            dash(v.representor.as_ref()),
            if use_.is_empty() {
                "-".into()
            } else {
                use_.join(", ")
            },
        ]);
    }
    for l in columns(&rows).lines() {
        out.push_str("  ");
        out.push_str(l);
        out.push('\n');
    }
    if guids {
        let mut rows = vec![["VF", "NODE GUID", "PORT GUID"].map(String::from).to_vec()];
        for v in &p.vf_list {
            rows.push(vec![
                format!("{:>2}", v.index),
                dash(v.node_guid.as_ref()),
                dash(v.port_guid.as_ref()),
            ]);
        }
        for l in columns(&rows).lines() {
            out.push_str("  ");
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}
