//! irq-tune's apply: runs a device's plan, writing only what the plan says. Kernel steps
//! (channels, rings, RSS) go through the kernel facade, IRQ affinity and XPS through the host
//! model.

use anyhow::{bail, Result};

use super::plan::{plan_irqs, DevicePlan, Step};
use crate::cpuset::format_cpulist;
use crate::host::{errno_of, Host};
use crate::kernel::Kernel;
use crate::log::Log;
use crate::netlink::ChannelsSet;
use crate::observe::irq::{observe_device, read_interrupts, Cpus, Device};

const EIO: i32 = 5;

/// How a step ended that did not fail the run.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Not done, and that is fine (managed IRQ): the message says why.
    Warned(String),
}

/// Runs a file step (affinity, XPS).
pub fn apply_file_step(host: &Host, step: &Step) -> Result<Outcome> {
    match step {
        Step::Affinity { irq, name, to, .. } => affinity_outcome(
            *irq,
            name,
            host.irq(*irq).set_affinity_list(&format_cpulist(to)),
        ),
        Step::Xps {
            ifname,
            queue,
            mask,
            ..
        } => host
            .netdev(ifname)
            .set_xps_cpus(*queue, mask)
            .map(|()| Outcome::Done),
        _ => bail!("{step}: not a file step"),
    }
}

/// EIO on an affinity write is the kernel keeping a managed IRQ: a warning, not a failure.
fn affinity_outcome(irq: u32, name: &str, r: Result<()>) -> Result<Outcome> {
    match r {
        Ok(()) => Ok(Outcome::Done),
        Err(e) if errno_of(&e) == Some(EIO) => Ok(Outcome::Warned(format!(
            "irq {irq} {name}: the kernel refused a new affinity (EIO: a managed IRQ, the kernel places it): {e:#}"
        ))),
        Err(e) => Err(e),
    }
}

fn apply_kernel_step(eth: &mut Kernel, step: &Step) -> Result<()> {
    match step {
        Step::Channels {
            ifname,
            combined,
            rx,
            tx,
        } => eth.set_channels(
            ifname,
            &ChannelsSet {
                combined: combined.map(|c| c.1),
                rx: rx.map(|c| c.1),
                tx: tx.map(|c| c.1),
                other: None,
            },
        ),
        Step::Rings { ifname, rx, tx } => eth.set_rings(ifname, rx.map(|r| r.1), tx.map(|t| t.1)),
        Step::Hfunc { ifname, to, .. } => eth.set_rss_hfunc(ifname, *to),
        _ => bail!("{step}: not a kernel step"),
    }
}

/// What the steps applied so far came to.
#[derive(Debug, Default)]
pub struct Tally {
    pub executed: u32,
    pub warnings: u32,
}

/// Applies one device's plan: kernel steps first (a channel change makes drivers request new
/// vectors, so the device is then read again, from a fresh interrupts table, and its IRQ steps
/// planned again), then IRQ affinity and XPS. Every step is tried; the failures come back
/// together.
pub fn apply_device(
    host: &Host,
    eth: &mut Kernel,
    cpus: &Cpus,
    dev: &Device,
    plan: &DevicePlan,
    log: &Log,
    tally: &mut Tally,
) -> Result<()> {
    let t = &dev.target;
    for n in &plan.notes {
        if dev.local.fallback.is_some() && n.contains("using all online CPUs") {
            log.info(n);
        } else {
            log.debug(n);
        }
    }
    // kernel steps first; a channel change makes drivers request new vectors
    let mut irq_steps = vec![];
    let mut rediscover = false;
    let mut failed = vec![];
    for s in &plan.steps {
        if matches!(s, Step::Affinity { .. } | Step::Xps { .. }) {
            irq_steps.push(s.clone());
            continue;
        }
        match apply_kernel_step(eth, s) {
            Ok(()) => {
                tally.executed += 1;
                rediscover |= matches!(s, Step::Channels { .. });
                log.step(t.pf().as_str(), s.kind(), &s.to_string());
            }
            Err(e) => failed.push(format!("{s}: {e:#}")),
        }
    }
    if rediscover {
        let interrupts = read_interrupts(host)?;
        let mut again = observe_device(host, cpus, &interrupts, t)?;
        again.kernel = None;
        irq_steps = plan_irqs(&again, &t.settings).steps;
    }
    for s in &irq_steps {
        match apply_file_step(host, s) {
            Ok(Outcome::Done) => {
                tally.executed += 1;
                log.step(t.pf().as_str(), s.kind(), &s.to_string());
            }
            Ok(Outcome::Warned(w)) => {
                tally.warnings += 1;
                log.warn(&format!("{}: {w}", t.ifname));
            }
            Err(e) => failed.push(format!("{s}: {e:#}")),
        }
    }
    if !failed.is_empty() {
        bail!(failed.join("\n"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    use super::*;

    #[test]
    fn eio_on_an_affinity_write_is_a_warning() {
        let eio: Result<()> = Err(std::io::Error::from_raw_os_error(EIO))
            .context("writing \"2\" to /proc/irq/77/smp_affinity_list");
        match affinity_outcome(77, "eth1-TxRx-0", eio).unwrap() {
            Outcome::Warned(w) => assert!(w.contains("irq 77") && w.contains("managed"), "{w}"),
            o => panic!("{o:?}"),
        }
        let ebusy: Result<()> = Err(std::io::Error::from_raw_os_error(16).into());
        assert!(affinity_outcome(77, "eth1-TxRx-0", ebusy).is_err());
        assert_eq!(affinity_outcome(77, "x", Ok(())).unwrap(), Outcome::Done);
    }
}
