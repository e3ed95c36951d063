//! InfiniBand devices (`/sys/class/infiniband/<dev>`) and the mlx5 VF-LAG state in debugfs.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::{Device, Host};
use crate::types::IfName;

/// The path systemd names the device unit of a PF's RDMA device after, as
/// `udev-rules/80-sriov-offload.rules` aliases it (`by-pci/BDF`, for InfiniBand PFs, which may
/// have no netdev). A name for systemd, not a file; cf. `net::device_unit_path`.
pub fn device_unit_path(alias: &str) -> String {
    format!("/sys/subsystem/infiniband/devices/{alias}")
}

pub struct IbDevice<'h> {
    host: &'h Host,
    name: String,
}

impl Host {
    /// An RDMA device by name (`mlx5_bond_0`, `mlx5_0`); the name is validated by the config.
    pub fn ib_device(&self, name: &str) -> IbDevice<'_> {
        IbDevice {
            host: self,
            name: name.to_string(),
        }
    }

    /// The device of the PF a run knows by `label`: its netdev's, or, for a PF without a
    /// netdev (an InfiniBand port without IPoIB), the PCI device of the RDMA device of that
    /// name (`class/infiniband/<label>/device`), which is the label `select` gives such a PF.
    /// A netdev of that name wins; without either the error names the netdev's link.
    pub fn pf_device(&self, label: &IfName) -> Result<Device<'_>> {
        let nd = self.netdev(label);
        if !nd.exists() {
            if let Some(d) = self.ib_device(label.as_str()).device()? {
                return Ok(d);
            }
        }
        nd.physical_device()
    }

    /// Whether `label` is a PF without a netdev, known by its RDMA device's name.
    pub fn is_ib_only_pf(&self, label: &IfName) -> bool {
        !self.netdev(label).exists() && self.ib_device(label.as_str()).exists()
    }

    fn lag_state_path(&self, pci: &str) -> PathBuf {
        self.sys(format!("kernel/debug/mlx5/{pci}/lag/state"))
    }

    /// VF-LAG state of an mlx5 PF (`active` once the LAG is up); `None` when the debugfs file
    /// does not exist (debugfs not mounted, not an mlx5 PF).
    pub fn mlx5_lag_state(&self, pci: &str) -> Result<Option<String>> {
        self.read_opt(&self.lag_state_path(pci))
    }

    /// Why the mlx5 VF-LAG state of `pci` cannot be read, when it cannot: debugfs not
    /// mounted, or no mlx5 LAG state for this device (not an mlx5 PF, or a kernel without it).
    pub fn mlx5_lag_state_missing(&self, pci: &str) -> Option<String> {
        if self.exists(&self.lag_state_path(pci)) {
            return None;
        }
        let debugfs = self.sys("kernel/debug");
        if self.list(&debugfs).map_or(true, |v| v.is_empty()) {
            return Some(format!(
                "debugfs is not mounted ({} is empty), so the VF-LAG state cannot be read; fix: mount -t debugfs none /sys/kernel/debug",
                debugfs.display()
            ));
        }
        Some(format!(
            "{} does not exist: {pci} is not an mlx5 PF, or this kernel has no VF-LAG state in debugfs; set vf_lag = false for this bond",
            self.lag_state_path(pci).display()
        ))
    }

    /// The debugfs file `mlx5_lag_state` reads, for messages.
    pub fn mlx5_lag_state_file(&self, pci: &str) -> PathBuf {
        self.lag_state_path(pci)
    }
}

impl IbDevice<'_> {
    /// The RDMA device exists (`mlx5_bond_0` appears once VF LAG is up).
    pub fn exists(&self) -> bool {
        self.host
            .exists(&self.host.sys(format!("class/infiniband/{}", self.name)))
    }
}

impl<'h> IbDevice<'h> {
    /// The PCI device the RDMA device is on (`device`: for `mlx5_bond_0`, the bond's first
    /// PF); `None` when there is no such RDMA device.
    pub fn device(&self) -> Result<Option<Device<'h>>> {
        let link = self
            .host
            .sys(format!("class/infiniband/{}/device", self.name));
        if !self.host.exists(&link) {
            return Ok(None);
        }
        let dir = self
            .host
            .resolve(&link)
            .with_context(|| format!("RDMA device {}: {}", self.name, link.display()))?;
        Device::at(self.host, dir).map(Some)
    }
}
