//! The whole configured host in one [`HostState`], for the readers over it (the operator tool's
//! status, plan and check, and the metrics): every configured PF that can be read, its facts,
//! and (optionally) irq-tune's devices. A PF that is absent or unreadable does not stop the
//! others: it is listed with why.

use anyhow::Result;

use super::irq::{read_interrupts, Cpus};
use super::{facts, observe_irq, observe_pf_in, Facts, HostState, Switches};
use crate::config::{Config, PfConfig};
use crate::host::Host;
use crate::kernel::Kernel;
use crate::select::irq::{Role, Settings, Target as IrqTarget};
use crate::select::Resolved;
use crate::types::IfName;

/// A configured PF that could not be observed.
#[derive(Clone, Debug)]
pub struct Unobserved<'c> {
    pub cfg: &'c PfConfig,
    /// Its netdev, when it resolved to one.
    pub name: Option<IfName>,
    pub why: String,
}

pub struct Configured<'c> {
    pub state: HostState<'c>,
    pub unobserved: Vec<Unobserved<'c>>,
    /// Why irq-tune's devices are not in `state.irq`, when they are not (not asked for, or
    /// the CPUs or interrupts could not be read), and the devices that could not be read.
    pub irq_error: Option<String>,
    pub irq_unread: Vec<(IfName, String)>,
}

/// Observes `resolved` (from [`crate::select::resolve`], possibly filtered) one PF at a time, and
/// with `irq` also irq-tune's view of them and their VF netdevs.
pub fn observe_configured<'c>(
    host: &Host,
    kernel: &mut Kernel,
    cfg: &'c Config,
    resolved: &[Resolved<'c>],
    irq: bool,
) -> Result<Configured<'c>> {
    let mut state = HostState {
        pfs: vec![],
        facts: Facts {
            hostname: host.hostname().ok().filter(|h| !h.is_empty()),
            ..Facts::default()
        },
        irq: vec![],
    };
    let mut unobserved = vec![];
    let mut switches = Switches::default();
    for r in resolved {
        let Some(name) = r.name.clone() else {
            unobserved.push(Unobserved {
                cfg: r.cfg,
                name: None,
                why: format!("not on this host: no interface matches {}", r.cfg.matcher),
            });
            continue;
        };
        match observe_pf_in(host, kernel, &name, &mut switches) {
            Ok(st) => state.pfs.push((r.cfg, st)),
            Err(e) => unobserved.push(Unobserved {
                cfg: r.cfg,
                name: Some(name),
                why: format!("{e:#}"),
            }),
        }
    }
    // one PF's facts failing to read is that PF's failure too
    let mut kept = vec![];
    for (pc, st) in std::mem::take(&mut state.pfs) {
        let one = [(pc, st)];
        match facts(host, kernel, cfg, &one) {
            Ok(f) => {
                state.facts.absorb(f);
                let [pf] = one;
                kept.push(pf);
            }
            Err(e) => {
                let [(pc, st)] = one;
                unobserved.push(Unobserved {
                    cfg: pc,
                    name: Some(st.name),
                    why: format!("{e:#}"),
                });
            }
        }
    }
    state.pfs = kept;
    // as observe() has it, so status plans the OVS steps vf-post would
    state.facts.ovs = super::ovs::observe(host, cfg, &state.pfs);
    let mut out = Configured {
        state,
        unobserved,
        irq_error: Some("not observed".into()),
        irq_unread: vec![],
    };
    if !irq || out.state.pfs.is_empty() {
        return Ok(out);
    }
    // irq-tune's targets from what was just observed (each PF and its VF netdevs), as
    // select::irq::targets would find them, without reading the devices a second time
    let read = || -> Result<_> {
        let mut targets = vec![];
        for (pc, s) in &out.state.pfs {
            let settings = Settings::from_config(&cfg.tune_for(&pc.matcher))?;
            targets.push(IrqTarget {
                ifname: s.name.clone(),
                pci: s.dev_name.clone(),
                role: Role::Pf,
                settings: settings.clone(),
            });
            for v in &s.vfs {
                let Some(pci) = &v.pci else { continue };
                for n in &v.netdevs {
                    targets.push(IrqTarget {
                        ifname: n.name.clone(),
                        pci: pci.to_string(),
                        role: Role::Vf {
                            pf: s.name.clone(),
                            index: v.index,
                        },
                        settings: settings.clone(),
                    });
                }
            }
        }
        Ok((Cpus::read(host)?, read_interrupts(host)?, targets))
    };
    match read() {
        Ok((cpus, interrupts, targets)) => {
            let (irq_state, unread) = observe_irq(host, kernel, &cpus, &interrupts, &targets);
            out.state.irq = irq_state.irq;
            out.irq_unread = unread
                .into_iter()
                .map(|(n, e)| (n, format!("{e:#}")))
                .collect();
            out.irq_error = None;
        }
        Err(e) => out.irq_error = Some(format!("{e:#}")),
    }
    Ok(out)
}
