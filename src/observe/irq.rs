//! irq-tune's reading of the host: the interrupts table and which vector serves which queue,
//! the CPUs local to each device, each queue vector's affinity, the `xps_cpus` of the tx
//! queues, and (real kernel only) the configured ethtool values. Reads only, through the host
//! model and the kernel facade.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{anyhow, bail, Result};

use crate::cpuset::{parse_cpulist, parse_cpumask, show, CpuSet};
use crate::host::{Device as PciDevice, Host};
use crate::kernel::Kernel;
use crate::netlink::{self, Channels, Hfunc, Rings};
use crate::select::irq::{Settings, Target};
use crate::types::IfName;

const EOPNOTSUPP: i32 = 95;

// ---------------------------------------------------------------------------------------------
// The interrupts table and vector names

/// IRQ number → action names, from the interrupts table. Rows without a number (NMI, LOC, …)
/// and rows without an action are left out.
pub fn parse_interrupts(text: &str) -> BTreeMap<u32, Vec<String>> {
    let mut lines = text.lines();
    let ncpu = lines.next().map_or(0, |h| {
        h.split_whitespace()
            .filter(|t| t.starts_with("CPU"))
            .count()
    });
    let mut out = BTreeMap::new();
    for line in lines {
        let Some((num, rest)) = line.split_once(':') else {
            continue;
        };
        let Ok(irq) = num.trim().parse::<u32>() else {
            continue;
        };
        let toks: Vec<&str> = rest.split_whitespace().collect();
        let counts = toks
            .iter()
            .take(ncpu)
            .take_while(|t| t.bytes().all(|b| b.is_ascii_digit()))
            .count();
        let toks = &toks[counts..];
        // after the counts: chip name, `<hwirq>-<flow>` (or `Edge`/`Level`), then the names
        let start = toks
            .iter()
            .position(|t| {
                let (pre, post) = t.split_once('-').unwrap_or((t, ""));
                (pre.bytes().all(|b| b.is_ascii_digit())
                    && post.bytes().next().is_some_and(|b| b.is_ascii_alphabetic()))
                    || *t == "Edge"
                    || *t == "Level"
            })
            .map_or(2, |i| i + 1);
        if toks.len() <= start {
            continue;
        }
        let names: Vec<String> = toks[start..]
            .join(" ")
            .split(", ")
            .map(str::to_string)
            .collect();
        out.insert(irq, names);
    }
    out
}

/// What a queue vector serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum QueueKind {
    /// mlx5 completion vector: rx and tx of channel N.
    Comp,
    TxRx,
    Rx,
    Tx,
}

impl QueueKind {
    pub fn has_tx(self) -> bool {
        self != QueueKind::Rx
    }
}

/// The queue a vector named `action` serves on netdev `ifname` of PCI function `pci`; `None`
/// for control and misc vectors.
pub fn queue_of(action: &str, ifname: &str, pci: &str) -> Option<(QueueKind, u32)> {
    if let Some(rest) = action.strip_prefix("mlx5_comp") {
        let (n, dev) = rest.split_once('@')?;
        return (dev.strip_prefix("pci:") == Some(pci))
            .then(|| n.parse().ok().map(|n| (QueueKind::Comp, n)))
            .flatten();
    }
    let mut it = action.rsplitn(3, '-');
    let (n, kind, prefix) = (it.next()?, it.next()?, it.next()?);
    let kind = match kind {
        "TxRx" => QueueKind::TxRx,
        "rx" => QueueKind::Rx,
        "tx" => QueueKind::Tx,
        _ => return None,
    };
    // i40e, ice and iavf put the driver name first: `i40e-ens1f0-TxRx-0`
    let ours = prefix == ifname
        || prefix
            .strip_suffix(ifname)
            .is_some_and(|p| p.ends_with('-'));
    ours.then(|| n.parse().ok().map(|n| (kind, n))).flatten()
}

// ---------------------------------------------------------------------------------------------
// Observation

/// Online CPUs and the width of CPU masks (`nr_cpu_ids`), read once per run.
#[derive(Clone, Debug)]
pub struct Cpus {
    pub online: CpuSet,
    pub nbits: u32,
}

impl Cpus {
    pub fn read(host: &Host) -> Result<Cpus> {
        let (list, p) = host.cpus_online()?;
        let online = parse_cpulist(&list).map_err(|m| anyhow!("{}: {m}", p.display()))?;
        if online.is_empty() {
            bail!("{}: no CPU is online", p.display());
        }
        let possible = match host.cpus_possible()? {
            Some((s, pp)) => parse_cpulist(&s).map_err(|m| anyhow!("{}: {m}", pp.display()))?,
            None => CpuSet::new(),
        };
        let max = possible
            .iter()
            .chain(online.iter())
            .max()
            .copied()
            .unwrap_or(0);
        Ok(Cpus {
            online,
            nbits: max + 1,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalCpus {
    pub cpus: CpuSet,
    /// Where they came from (`local_cpulist, NUMA node 1`).
    pub source: String,
    /// Why all online CPUs are used instead, when they are.
    pub fallback: Option<String>,
}

pub fn local_cpus(host: &Host, dev: &PciDevice, cpus: &Cpus) -> Result<LocalCpus> {
    let pci = dev.name();
    let all = |why: String| LocalCpus {
        cpus: cpus.online.clone(),
        source: "all online CPUs".into(),
        fallback: Some(why),
    };
    let Some(node) = dev.numa_node()? else {
        return Ok(all(format!("{pci} has no numa_node")));
    };
    if node < 0 {
        return Ok(all(format!(
            "numa_node of {pci} is {node}: the firmware gives no NUMA locality for it"
        )));
    }
    let (list, source) = match dev.local_cpulist()? {
        Some(l) => (l, format!("local_cpulist, NUMA node {node}")),
        None => (
            host.node_cpulist(node as u32)?,
            format!("cpulist of NUMA node {node}"),
        ),
    };
    let set = parse_cpulist(&list).map_err(|m| anyhow!("{pci} {source}: {m}"))?;
    let local: CpuSet = set.intersection(&cpus.online).copied().collect();
    if local.is_empty() {
        return Ok(all(format!(
            "none of the CPUs local to {pci} ({}) is online",
            show(&set)
        )));
    }
    Ok(LocalCpus {
        cpus: local,
        source,
        fallback: None,
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Irq {
    pub irq: u32,
    pub name: String,
    pub kind: QueueKind,
    pub queue: u32,
    /// The IRQ's `smp_affinity_list`; `None` when the file is missing.
    pub affinity: Option<CpuSet>,
    /// The kernel places it (debugfs `IRQD_AFFINITY_MANAGED`); writes would fail with EIO.
    pub managed: bool,
}

/// ethtool state of a device, read only for the settings configured. `Err` is why a value
/// is not available (the driver does not support it).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct KernelState {
    pub channels: Option<Result<Channels, String>>,
    pub rings: Option<Result<Rings, String>>,
    pub hfunc: Option<Result<Option<Hfunc>, String>>,
}

#[derive(Clone, Debug)]
pub struct Device {
    pub target: Target,
    pub local: LocalCpus,
    pub nbits: u32,
    /// Queue vectors, by (queue, kind).
    pub irqs: Vec<Irq>,
    /// Other vectors of the function in the interrupts table (control, misc), left alone.
    pub other: Vec<(u32, String)>,
    /// Current `xps_cpus` of the tx queues that have a queue vector.
    pub xps: BTreeMap<u32, CpuSet>,
    /// `None` on a fixture tree: no kernel to ask.
    pub kernel: Option<KernelState>,
}

/// Reads one target through the host model: the CPUs local to it, its vectors and their
/// affinity, the `xps_cpus` of its tx queues. `interrupts` is the parsed interrupts table
/// ([`read_interrupts`]).
pub fn observe_device(
    host: &Host,
    cpus: &Cpus,
    interrupts: &BTreeMap<u32, Vec<String>>,
    t: &Target,
) -> Result<Device> {
    let dev = host.netdev(&t.ifname).physical_device()?;
    let local = local_cpus(host, &dev, cpus)?;
    let mut irqs = vec![];
    let mut other = vec![];
    for n in dev.msi_irqs()? {
        let Some(names) = interrupts.get(&n) else {
            continue; // allocated but not requested
        };
        let q = names
            .iter()
            .find_map(|a| queue_of(a, t.ifname.as_str(), &t.pci));
        let name = names.join(", ");
        let Some((kind, queue)) = q else {
            other.push((n, name));
            continue;
        };
        let irq = host.irq(n);
        let affinity = irq.affinity_list(parse_cpulist)?;
        let managed = irq.managed();
        irqs.push(Irq {
            irq: n,
            name,
            kind,
            queue,
            affinity,
            managed,
        });
    }
    irqs.sort_by_key(|i| (i.queue, i.kind, i.irq));
    let mut xps = BTreeMap::new();
    let txq: BTreeSet<u32> = irqs
        .iter()
        .filter(|i| i.kind.has_tx())
        .map(|i| i.queue)
        .collect();
    let nd = host.netdev(&t.ifname);
    for q in txq {
        // missing: no such queue, a single-queue device or no CONFIG_XPS
        let Some(cur) = nd.xps_cpus(q)? else {
            continue;
        };
        let set = parse_cpumask(&cur).map_err(|m| anyhow!("{}: {m}", nd.xps_file(q).display()))?;
        xps.insert(q, set);
    }
    Ok(Device {
        target: t.clone(),
        local,
        nbits: cpus.nbits,
        irqs,
        other,
        xps,
        kernel: None,
    })
}

/// Everything the plan needs about one target: [`observe_device`], and the configured ethtool
/// values when there is a kernel to ask.
pub fn observe_target(
    host: &Host,
    kernel: &mut Kernel,
    cpus: &Cpus,
    interrupts: &BTreeMap<u32, Vec<String>>,
    t: &Target,
) -> Result<Device> {
    let mut dev = observe_device(host, cpus, interrupts, t)?;
    if kernel.is_real() && t.settings.wants_kernel() {
        dev.kernel = Some(observe_kernel(kernel, &t.ifname, &t.settings)?);
    }
    Ok(dev)
}

/// Reads the configured ethtool values of a device (real kernel only).
pub fn observe_kernel(k: &mut Kernel, ifname: &IfName, s: &Settings) -> Result<KernelState> {
    fn known<T>(r: Result<T>) -> Result<Result<T, String>> {
        match r {
            Ok(v) => Ok(Ok(v)),
            Err(e) if netlink::errno(&e).map(|e| e as i32) == Some(EOPNOTSUPP) => {
                Ok(Err("not supported by the driver".into()))
            }
            Err(e) => Err(e),
        }
    }
    Ok(KernelState {
        channels: s.channels.map(|_| known(k.channels(ifname))).transpose()?,
        rings: s.rings.map(|_| known(k.rings(ifname))).transpose()?,
        hfunc: s.hfunc.map(|_| known(k.rss_hfunc(ifname))).transpose()?,
    })
}

/// The interrupts table, parsed ([`parse_interrupts`]).
pub fn read_interrupts(host: &Host) -> Result<BTreeMap<u32, Vec<String>>> {
    Ok(parse_interrupts(&host.interrupts()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERRUPTS: &str = "            CPU0       CPU1       CPU2       CPU3       
   0:         44          0          0          0   IO-APIC   2-edge      timer
   8:          0          0          0          1   IO-APIC   8-edge      rtc0
   9:          0          4          0          0   IO-APIC   9-fasteoi   acpi
  16:          0          0          0          0   IO-APIC  16-fasteoi   i801_smbus, ehci_hcd:usb1
 140:          0          0          0          0  IR-PCI-MSI 92798976-edge      mlx5_async0@pci:0000:af:00.0
 141:       1210          0        803          0  IR-PCI-MSI 92798977-edge      mlx5_comp0@pci:0000:af:00.0
 142:          0      12345          0          0  IR-PCIMSIX-0000:af:00.0    2-edge      mlx5_comp1@pci:0000:af:00.0
  51:          7          0          0          0   PCI-MSI 1048577-edge      eth1-TxRx-0
  50:          1          0          0          0   PCI-MSI 1048576-edge      eth1
  60:          0          0          0          0   PCI-MSI 1572864-edge
 NMI:          0          0          0          0   Non-maskable interrupts
 LOC:      91919      88121      80044      79001   Local timer interrupts
 ERR:          0
";

    #[test]
    fn proc_interrupts_rows_give_their_action_names() {
        let m = parse_interrupts(INTERRUPTS);
        assert_eq!(m[&0], vec!["timer"]);
        assert_eq!(m[&16], vec!["i801_smbus", "ehci_hcd:usb1"]);
        assert_eq!(m[&140], vec!["mlx5_async0@pci:0000:af:00.0"]);
        assert_eq!(m[&141], vec!["mlx5_comp0@pci:0000:af:00.0"]);
        assert_eq!(m[&142], vec!["mlx5_comp1@pci:0000:af:00.0"]);
        assert_eq!(m[&51], vec!["eth1-TxRx-0"]);
        assert_eq!(m[&50], vec!["eth1"]);
        assert!(!m.contains_key(&60), "no action");
        assert!(m.keys().all(|k| *k < 1000), "NMI/LOC rows are not IRQs");
    }

    #[test]
    fn queue_vectors_are_told_from_control_and_misc_vectors() {
        let pci = "0000:af:00.0";
        assert_eq!(
            queue_of("mlx5_comp7@pci:0000:af:00.0", "ens6f0", pci),
            Some((QueueKind::Comp, 7))
        );
        assert_eq!(queue_of("mlx5_comp7@pci:0000:af:00.1", "ens6f0", pci), None);
        assert_eq!(
            queue_of("mlx5_async0@pci:0000:af:00.0", "ens6f0", pci),
            None
        );
        assert_eq!(queue_of("mlx5_pages_eq@pci:0000:af:00.0", "x", pci), None);
        assert_eq!(
            queue_of("eth1-TxRx-3", "eth1", pci),
            Some((QueueKind::TxRx, 3))
        );
        assert_eq!(queue_of("eth1-rx-0", "eth1", pci), Some((QueueKind::Rx, 0)));
        assert_eq!(queue_of("eth1-tx-1", "eth1", pci), Some((QueueKind::Tx, 1)));
        assert_eq!(
            queue_of("i40e-ens1f0-TxRx-2", "ens1f0", pci),
            Some((QueueKind::TxRx, 2))
        );
        assert_eq!(queue_of("eth1", "eth1", pci), None);
        assert_eq!(queue_of("eth11-TxRx-0", "eth1", pci), None);
        assert_eq!(queue_of("veth1-TxRx-0", "eth1", pci), None);
        assert_eq!(queue_of("eth1-TxRx-x", "eth1", pci), None);
    }
}
