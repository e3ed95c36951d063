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
