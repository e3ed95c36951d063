//! CPU topology (`/sys/devices/system/{cpu,node}`) and interrupts (`/proc/interrupts`,
//! `/proc/irq/N`, the IRQ debugfs).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

use super::Host;

/// The interrupts table, as messages name it (on a fixture tree it is read under the root).
pub const INTERRUPTS: &str = "/proc/interrupts";

impl Host {
    /// `devices/system/cpu/online` as printed (a cpulist); the file must exist.
    pub fn cpus_online(&self) -> Result<(String, PathBuf)> {
        let p = self.sys("devices/system/cpu/online");
        Ok((self.read(&p)?, p))
    }

    /// `devices/system/cpu/possible`; `None` when absent.
    pub fn cpus_possible(&self) -> Result<Option<(String, PathBuf)>> {
        let p = self.sys("devices/system/cpu/possible");
        Ok(self.read_opt(&p)?.map(|s| (s, p)))
    }

    /// `devices/system/node/nodeN/cpulist`; the file must exist.
    pub fn node_cpulist(&self, node: u32) -> Result<String> {
        self.read(&self.sys(format!("devices/system/node/node{node}/cpulist")))
    }

    /// [`INTERRUPTS`] as text.
    pub fn interrupts(&self) -> Result<String> {
        self.read_text(&self.abs(Path::new(INTERRUPTS)))
    }

    pub fn irq(&self, n: u32) -> Irq<'_> {
        Irq { host: self, n }
    }
}

pub struct Irq<'h> {
    host: &'h Host,
    n: u32,
}

impl Irq<'_> {
    fn affinity_path(&self) -> PathBuf {
        self.host.proc(format!("irq/{}/smp_affinity_list", self.n))
    }

    /// `smp_affinity_list` parsed by `parse`; `None` when the file is missing.
    pub fn affinity_list<T>(&self, parse: impl Fn(&str) -> Result<T, String>) -> Result<Option<T>> {
        let p = self.affinity_path();
        self.host
            .read_opt(&p)?
            .map(|s| parse(&s).map_err(|m| anyhow!("{}: {m}", p.display())))
            .transpose()
    }

    /// Writes `smp_affinity_list`. A managed IRQ answers EIO.
    pub fn set_affinity_list(&self, list: &str) -> Result<()> {
        self.host.write(&self.affinity_path(), list)
    }

    /// The kernel places this IRQ itself (debugfs says `IRQD_AFFINITY_MANAGED`). Debugfs may
    /// be absent or unreadable: then false, and EIO at write time tells.
    pub fn managed(&self) -> bool {
        self.host
            .read_opt(&self.host.sys(format!("kernel/debug/irq/irqs/{}", self.n)))
            .ok()
            .flatten()
            .is_some_and(|s| s.contains("IRQD_AFFINITY_MANAGED"))
    }
}
