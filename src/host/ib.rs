//! InfiniBand devices (`/sys/class/infiniband/<dev>`) and the mlx5 VF-LAG state in debugfs.

use std::path::PathBuf;

use anyhow::Result;

use super::Host;

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
