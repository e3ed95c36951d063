//! irq-tune's plan: what to change on one device, and the lines `--dry-run` prints. Pure: it
//! reads the observed [`Device`] and nothing else.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::config::{ChannelsSetting, RingsSetting};
use crate::cpuset::{format_cpumask, show, CpuSet};
use crate::host::cpu::INTERRUPTS;
use crate::netlink::{Channels, Hfunc};
use crate::observe::irq::Device;
use crate::observe::HostState;
use crate::select::irq::{Role, Settings};
use crate::types::IfName;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Channels {
        ifname: IfName,
        /// (from, to) per kind changed.
        combined: Option<(u32, u32)>,
        rx: Option<(u32, u32)>,
        tx: Option<(u32, u32)>,
    },
    Rings {
        ifname: IfName,
        rx: Option<(u32, u32)>,
        tx: Option<(u32, u32)>,
    },
    Hfunc {
        ifname: IfName,
        from: Option<Hfunc>,
        to: Hfunc,
    },
    Affinity {
        ifname: IfName,
        irq: u32,
        name: String,
        from: CpuSet,
        to: CpuSet,
    },
    Xps {
        ifname: IfName,
        queue: u32,
        from: CpuSet,
        to: CpuSet,
        /// What is written to `xps_cpus`.
        mask: String,
    },
}

impl Step {
    pub fn ifname(&self) -> &IfName {
        match self {
            Step::Channels { ifname, .. }
            | Step::Rings { ifname, .. }
            | Step::Hfunc { ifname, .. }
            | Step::Affinity { ifname, .. }
            | Step::Xps { ifname, .. } => ifname,
        }
    }

    /// Short name for the journal's `SRIOV_STEP=` field.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Channels { .. } => "channels",
            Step::Rings { .. } => "rings",
            Step::Hfunc { .. } => "rss-hfunc",
            Step::Affinity { .. } => "irq-affinity",
            Step::Xps { .. } => "xps",
        }
    }
}

fn from_to(name: &str, v: Option<(u32, u32)>) -> Option<String> {
    v.map(|(a, b)| format!("{name} {a} -> {b}"))
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Channels {
                ifname,
                combined,
                rx,
                tx,
            } => {
                let parts: Vec<String> = [
                    from_to("combined", *combined),
                    from_to("rx", *rx),
                    from_to("tx", *tx),
                ]
                .into_iter()
                .flatten()
                .collect();
                write!(f, "{ifname}: channels {}", parts.join(", "))
            }
            Step::Rings { ifname, rx, tx } => {
                let parts: Vec<String> = [from_to("rx", *rx), from_to("tx", *tx)]
                    .into_iter()
                    .flatten()
                    .collect();
                write!(f, "{ifname}: rings {}", parts.join(", "))
            }
            Step::Hfunc { ifname, from, to } => {
                let from = from.map_or("none".to_string(), |h| h.to_string());
                write!(f, "{ifname}: rss hfunc {from} -> {to}")
            }
            Step::Affinity {
                ifname,
                irq,
                name,
                from,
                to,
            } => write!(
                f,
                "{ifname}: irq {irq} {name} affinity {} -> {}",
                show(from),
                show(to)
            ),
            Step::Xps {
                ifname,
                queue,
                from,
                to,
                mask,
            } => write!(
                f,
                "{ifname}: tx-{queue} xps_cpus {} -> {} ({mask})",
                show(from),
                show(to)
            ),
        }
    }
}

/// What to do for one device: comment lines (decisions, things left alone and why) and steps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevicePlan {
    pub notes: Vec<String>,
    pub steps: Vec<Step>,
}

/// Channels, rings and RSS (needs the kernel's answers: nothing is planned without them).
pub fn plan_kernel(dev: &Device, s: &Settings) -> DevicePlan {
    let mut p = DevicePlan {
        notes: vec![],
        steps: vec![],
    };
    let ifname = &dev.target.ifname;
    let Some(k) = &dev.kernel else {
        if s.wants_kernel() {
            p.notes.push(format!(
                "{ifname}: channels, rings and RSS not planned: no kernel behind a fixture tree"
            ));
        }
        return p;
    };
    if let (Some(want), Some(state)) = (s.channels, &k.channels) {
        match state {
            Err(why) => p
                .notes
                .push(format!("{ifname}: channels left alone: {why}")),
            Ok(c) => plan_channels(&mut p, ifname, want, dev.local.cpus.len() as u32, c),
        }
    }
    if let (Some(want), Some(state)) = (s.rings, &k.rings) {
        match state {
            Err(why) => p.notes.push(format!("{ifname}: rings left alone: {why}")),
            Ok(r) => {
                let target = |cur: u32, max: u32, what: &str, notes: &mut Vec<String>| {
                    if max == 0 {
                        return None;
                    }
                    let to = match want {
                        RingsSetting::Max => max,
                        RingsSetting::Count(n) if n > max => {
                            notes.push(format!(
                                "{ifname}: {what} ring {n} clamped to the device maximum {max}"
                            ));
                            max
                        }
                        RingsSetting::Count(n) => n,
                    };
                    (to != cur).then_some((cur, to))
                };
                let rx = target(r.rx, r.rx_max, "rx", &mut p.notes);
                let tx = target(r.tx, r.tx_max, "tx", &mut p.notes);
                if rx.is_some() || tx.is_some() {
                    p.steps.push(Step::Rings {
                        ifname: ifname.clone(),
                        rx,
                        tx,
                    });
                }
            }
        }
    }
    if let (Some(want), Some(state)) = (s.hfunc, &k.hfunc) {
        match state {
            Err(why) => p
                .notes
                .push(format!("{ifname}: RSS hash left alone: {why}")),
            Ok(cur) if *cur == Some(want) => {}
            Ok(cur) => p.steps.push(Step::Hfunc {
                ifname: ifname.clone(),
                from: *cur,
                to: want,
            }),
        }
    }
    p
}

fn plan_channels(
    p: &mut DevicePlan,
    ifname: &IfName,
    want: ChannelsSetting,
    local: u32,
    c: &Channels,
) {
    let (n, why) = match want {
        ChannelsSetting::NumaLocal => (local, "local CPUs"),
        ChannelsSetting::Count(n) => (n, "configured"),
    };
    let mut clamp = |max: u32, what: &str| {
        if n > max {
            p.notes.push(format!(
                "{ifname}: {n} {what} channels ({why}) clamped to the device maximum {max}"
            ));
            max
        } else {
            n
        }
    };
    let step = if c.combined_max > 0 {
        let to = clamp(c.combined_max, "combined");
        (to != c.combined).then(|| Step::Channels {
            ifname: ifname.clone(),
            combined: Some((c.combined, to)),
            rx: None,
            tx: None,
        })
    } else if c.rx_max > 0 && c.tx_max > 0 {
        let rx = clamp(c.rx_max, "rx");
        let tx = clamp(c.tx_max, "tx");
        (rx != c.rx || tx != c.tx).then(|| Step::Channels {
            ifname: ifname.clone(),
            combined: None,
            rx: (rx != c.rx).then_some((c.rx, rx)),
            tx: (tx != c.tx).then_some((c.tx, tx)),
        })
    } else {
        p.notes.push(format!(
            "{ifname}: channels left alone: the device reports no channel maxima"
        ));
        None
    };
    p.steps.extend(step);
}

/// IRQ affinity and XPS from the observed vectors. Pure.
pub fn plan_irqs(dev: &Device, s: &Settings) -> DevicePlan {
    let t = &dev.target;
    let ifname = &t.ifname;
    let mut p = DevicePlan {
        notes: vec![],
        steps: vec![],
    };
    let role = match &t.role {
        Role::Pf => format!("PF {}", t.pci),
        Role::Vf { pf, index } => format!("VF {index} of {pf}, {}", t.pci),
    };
    let queues: BTreeSet<u32> = dev.irqs.iter().map(|i| i.queue).collect();
    p.notes.push(format!(
        "{ifname} ({role}): local CPUs {} ({}); {} queue vector(s) for {} queue(s), {} other vector(s) left alone",
        show(&dev.local.cpus),
        dev.local.source,
        dev.irqs.len(),
        queues.len(),
        dev.other.len()
    ));
    if let Some(why) = &dev.local.fallback {
        p.notes
            .push(format!("{ifname}: using all online CPUs: {why}"));
    }
    if dev.irqs.is_empty() {
        let table = INTERRUPTS;
        p.notes.push(format!(
            "{ifname}: no queue vectors in {table} (drivers such as igb request them when the link is set up)"
        ));
        return p;
    }
    if !s.affinity && !s.xps {
        return p;
    }
    let local: Vec<u32> = dev.local.cpus.iter().copied().collect();
    let offset = match t.role {
        Role::Pf => 0,
        Role::Vf { index, .. } => index,
    };
    // the CPU(s) each queue's vectors end up on, for XPS
    let mut placed: BTreeMap<u32, CpuSet> = BTreeMap::new();
    for i in &dev.irqs {
        let cur = i.affinity.clone();
        let target = if !s.affinity || i.managed {
            if s.affinity {
                p.notes.push(format!(
                    "{ifname}: irq {} {} is managed by the kernel: affinity left at {}",
                    i.irq,
                    i.name,
                    cur.as_ref().map_or("unknown".into(), show)
                ));
            }
            cur.clone().unwrap_or_default()
        } else {
            let cpu = local[((i.queue + offset) as usize) % local.len()];
            let to = CpuSet::from([cpu]);
            match &cur {
                None => p.notes.push(format!(
                    "{ifname}: irq {} {} has no smp_affinity_list: left alone",
                    i.irq, i.name
                )),
                Some(c) if *c == to => {}
                Some(c) => p.steps.push(Step::Affinity {
                    ifname: ifname.clone(),
                    irq: i.irq,
                    name: i.name.clone(),
                    from: c.clone(),
                    to: to.clone(),
                }),
            }
            to
        };
        if i.kind.has_tx() && !target.is_empty() {
            placed.entry(i.queue).or_default().extend(target);
        }
    }
    if s.xps {
        for (q, to) in placed {
            let Some(cur) = dev.xps.get(&q) else {
                continue;
            };
            if *cur != to {
                p.steps.push(Step::Xps {
                    ifname: ifname.clone(),
                    queue: q,
                    from: cur.clone(),
                    mask: format_cpumask(&to, dev.nbits),
                    to,
                });
            }
        }
    }
    p
}

/// The plans for the devices of `state`, in its order.
pub fn plan(state: &HostState) -> Vec<DevicePlan> {
    state.irq.iter().map(plan_device).collect()
}

/// The whole plan for a device: kernel settings first (a channel change may re-create the
/// vectors), then IRQs and XPS.
pub fn plan_device(dev: &Device) -> DevicePlan {
    let s = &dev.target.settings;
    let mut p = plan_irqs(dev, s);
    let k = plan_kernel(dev, s);
    p.notes.extend(k.notes);
    let mut steps = k.steps;
    steps.extend(p.steps);
    p.steps = steps;
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TuneConfig;
    use crate::cpuset::parse_cpulist;
    use crate::netlink::Rings;
    use crate::observe::irq::{Irq, KernelState, LocalCpus, QueueKind};
    use crate::select::irq::Target;

    fn set(l: &str) -> CpuSet {
        parse_cpulist(l).unwrap()
    }

    fn dev(role: Role, local: &str, irqs: Vec<(u32, QueueKind, u32, &str)>) -> Device {
        Device {
            target: Target {
                ifname: "eth1".parse().unwrap(),
                pci: "0000:01:00.0".into(),
                role,
                settings: Settings::from_config(&TuneConfig {
                    irq_affinity: Some(true),
                    xps: Some(true),
                    ..TuneConfig::default()
                })
                .unwrap(),
            },
            local: LocalCpus {
                cpus: set(local),
                source: "test".into(),
                fallback: None,
            },
            nbits: 8,
            irqs: irqs
                .into_iter()
                .map(|(irq, kind, queue, aff)| Irq {
                    irq,
                    name: format!("v{irq}"),
                    kind,
                    queue,
                    affinity: Some(set(aff)),
                    managed: false,
                })
                .collect(),
            other: vec![],
            xps: (0..4).map(|q| (q, CpuSet::new())).collect(),
            kernel: None,
        }
    }

    #[test]
    fn no_tune_keys_plan_nothing() {
        let mut d = dev(Role::Pf, "0-1", vec![(10, QueueKind::TxRx, 0, "0-7")]);
        d.target.settings = Settings::from_config(&TuneConfig::default()).unwrap();
        assert!(d.target.settings.is_empty());
        assert_eq!(plan_device(&d).steps, vec![]);
    }

    #[test]
    fn queues_round_robin_over_local_cpus_and_xps_follows() {
        use QueueKind::*;
        let d = dev(
            Role::Pf,
            "4-5",
            vec![
                (10, Rx, 0, "0-7"),
                (11, Rx, 1, "0-7"),
                (12, Tx, 0, "4"),
                (13, Tx, 1, "0-7"),
                (14, Tx, 2, "0-7"),
            ],
        );
        let p = plan_irqs(&d, &d.target.settings);
        let lines: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            lines,
            [
                "eth1: irq 10 v10 affinity 0-7 -> 4",
                "eth1: irq 11 v11 affinity 0-7 -> 5",
                "eth1: irq 13 v13 affinity 0-7 -> 5",
                "eth1: irq 14 v14 affinity 0-7 -> 4",
                "eth1: tx-0 xps_cpus none -> 4 (10)",
                "eth1: tx-1 xps_cpus none -> 5 (20)",
                "eth1: tx-2 xps_cpus none -> 4 (10)",
            ]
        );
    }

    #[test]
    fn a_vf_starts_at_its_index_so_vfs_spread() {
        let d = dev(
            Role::Vf {
                pf: "p".parse().unwrap(),
                index: 3,
            },
            "0-1",
            vec![(20, QueueKind::Comp, 0, "0-7")],
        );
        let p = plan_irqs(&d, &d.target.settings);
        assert_eq!(p.steps[0].to_string(), "eth1: irq 20 v20 affinity 0-7 -> 1");
    }

    #[test]
    fn managed_irqs_are_left_alone_and_xps_uses_their_placement() {
        let mut d = dev(Role::Pf, "0-3", vec![(30, QueueKind::TxRx, 0, "2")]);
        d.irqs[0].managed = true;
        let p = plan_irqs(&d, &d.target.settings);
        assert_eq!(p.steps.len(), 1, "{:?}", p.steps);
        assert_eq!(p.steps[0].to_string(), "eth1: tx-0 xps_cpus none -> 2 (04)");
        assert!(p.notes.iter().any(|n| n.contains("managed by the kernel")));
    }

    #[test]
    fn channels_and_rings_are_clamped_to_the_device_maxima() {
        let mut d = dev(Role::Pf, "0-7", vec![]);
        d.kernel = Some(KernelState {
            channels: Some(Ok(Channels {
                combined: 2,
                combined_max: 4,
                ..Default::default()
            })),
            rings: Some(Ok(Rings {
                rx: 256,
                tx: 4096,
                rx_max: 4096,
                tx_max: 4096,
            })),
            hfunc: Some(Ok(Some(Hfunc::Xor))),
        });
        let s = Settings {
            affinity: true,
            xps: true,
            rings: Some(RingsSetting::Count(8192)),
            channels: Some(ChannelsSetting::NumaLocal),
            hfunc: Some(Hfunc::Toeplitz),
        };
        let p = plan_kernel(&d, &s);
        let lines: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            lines,
            [
                "eth1: channels combined 2 -> 4",
                "eth1: rings rx 256 -> 4096",
                "eth1: rss hfunc xor -> toeplitz",
            ]
        );
        assert!(
            p.notes
                .iter()
                .any(|n| n
                    .contains("8 combined channels (local CPUs) clamped to the device maximum 4")),
            "{:?}",
            p.notes
        );
        // already right: nothing
        d.kernel = Some(KernelState {
            channels: Some(Ok(Channels {
                combined: 4,
                combined_max: 4,
                ..Default::default()
            })),
            rings: Some(Ok(Rings {
                rx: 4096,
                tx: 4096,
                rx_max: 4096,
                tx_max: 4096,
            })),
            hfunc: Some(Err("not supported by the driver".into())),
        });
        assert!(plan_kernel(&d, &s).steps.is_empty());
    }
}
