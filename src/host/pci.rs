//! Devices behind netdevs: PCI functions (`/sys/bus/pci/devices/<BDF>`, a PF or one of its VFs)
//! and non-PCI devices with SR-IOV attributes (netdevsim: `/sys/devices/netdevsimN`, bus
//! `netdevsim`). A handle holds the device's resolved directory.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::{Host, Netdev};
use crate::types::{Guid, GuidKind, IfName, PciAddr};

#[derive(Clone)]
pub struct Device<'h> {
    host: &'h Host,
    dir: PathBuf,
    name: String,
}

impl Host {
    /// The PCI function with this address (it may not exist: see [`Device::exists`]).
    pub fn pci(&self, addr: &PciAddr) -> Device<'_> {
        let dir = self.sys(format!("bus/pci/devices/{addr}"));
        // resolved when it exists, so `virtfnN` and `driver` are read next to the device
        let dir = self.resolve(&dir).unwrap_or(dir);
        Device {
            host: self,
            dir,
            name: addr.to_string(),
        }
    }

    /// A PCI driver by name (`mlx5_core`, `vfio-pci`).
    pub fn pci_driver(&self, name: &str) -> PciDriver<'_> {
        PciDriver {
            host: self,
            dir: self.sys(format!("bus/pci/drivers/{name}")),
            name: name.to_string(),
        }
    }
}

impl<'h> Device<'h> {
    pub(super) fn at(host: &'h Host, dir: PathBuf) -> Result<Device<'h>> {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .with_context(|| format!("{}: no device name", dir.display()))?;
        Ok(Device { host, dir, name })
    }

    /// The kernel's name of the device: a PCI address, or e.g. `netdevsim1`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The resolved sysfs directory, for messages.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn exists(&self) -> bool {
        self.host.exists(&self.dir)
    }

    /// The PCI address, when this is a PCI function.
    pub fn pci(&self) -> Option<PciAddr> {
        (self.bus().ok()?.as_deref() == Some("pci"))
            .then(|| self.name.parse().ok())
            .flatten()
    }

    /// The bus (`pci`, `netdevsim`) as the `subsystem` link names it; devlink handles are
    /// `bus/name`.
    pub fn bus(&self) -> Result<Option<String>> {
        self.host.link_name(&self.dir.join("subsystem"))
    }

    pub fn driver(&self) -> Result<Option<String>> {
        self.host.link_name(&self.dir.join("driver"))
    }

    /// `driver_override`, with the kernel's "(null)" as `None`.
    pub fn driver_override(&self) -> Result<Option<String>> {
        Ok(self
            .host
            .read_opt(&self.dir.join("driver_override"))?
            .filter(|s| s != "(null)" && !s.is_empty()))
    }

    fn sriov_file(&self, f: &str) -> PathBuf {
        self.dir.join(f)
    }

    /// `sriov_numvfs`; `None` when the device has no SR-IOV capability (or it is disabled in
    /// firmware or BIOS).
    pub fn numvfs(&self) -> Result<Option<u32>> {
        self.host.read_u32_opt(&self.sriov_file("sriov_numvfs"))
    }

    pub fn numvfs_file(&self) -> PathBuf {
        self.sriov_file("sriov_numvfs")
    }

    pub fn has_sriov(&self) -> bool {
        self.host.exists(&self.sriov_file("sriov_numvfs"))
    }

    pub fn set_numvfs(&self, n: u32) -> Result<()> {
        self.host
            .write(&self.sriov_file("sriov_numvfs"), &n.to_string())
    }

    pub fn totalvfs(&self) -> Result<Option<u32>> {
        self.host.read_u32_opt(&self.sriov_file("sriov_totalvfs"))
    }

    pub fn autoprobe(&self) -> Result<Option<bool>> {
        Ok(self
            .host
            .read_opt(&self.sriov_file("sriov_drivers_autoprobe"))?
            .map(|s| s != "0"))
    }

    pub fn set_autoprobe(&self, on: bool) -> Result<()> {
        self.host.write(
            &self.sriov_file("sriov_drivers_autoprobe"),
            if on { "1" } else { "0" },
        )
    }

    fn virtfn_link(&self, i: u32) -> PathBuf {
        self.dir.join(format!("virtfn{i}"))
    }

    /// VF `i` of this PF (`virtfnN`); `None` when there is no such link (no such VF, or a
    /// device whose VFs are not PCI functions, such as netdevsim).
    pub fn virtfn(&self, i: u32) -> Result<Option<Device<'h>>> {
        let link = self.virtfn_link(i);
        if self.host.link_name(&link)?.is_none() {
            return Ok(None);
        }
        Device::at(self.host, self.host.resolve(&link)?).map(Some)
    }

    /// Like [`virtfn`](Self::virtfn), but a missing VF is an error naming the link.
    pub fn vf(&self, i: u32) -> Result<Device<'h>> {
        self.virtfn(i)?.with_context(|| {
            format!(
                "VF {i} of {} does not exist ({} is missing)",
                self.name,
                self.virtfn_link(i).display()
            )
        })
    }

    /// Every VF with its index, from the `virtfnN` links, by index.
    pub fn virtfns(&self) -> Result<Vec<(u32, Device<'h>)>> {
        let mut out = vec![];
        for e in self.host.list(&self.dir)? {
            if let Some(i) = e.strip_prefix("virtfn").and_then(|n| n.parse().ok()) {
                if let Some(d) = self.virtfn(i)? {
                    out.push((i, d));
                }
            }
        }
        out.sort_by_key(|(i, _)| *i);
        Ok(out)
    }

    /// The PF of a VF (`physfn`); `None` for anything else.
    pub fn physfn(&self) -> Result<Option<Device<'h>>> {
        let link = self.dir.join("physfn");
        if self.host.link_name(&link)?.is_none() {
            return Ok(None);
        }
        Device::at(self.host, self.host.resolve(&link)?).map(Some)
    }

    pub fn is_vf(&self) -> bool {
        self.host.exists(&self.dir.join("physfn"))
    }

    /// The netdevs of this device (`net/`), by name.
    pub fn netdevs(&self) -> Result<Vec<Netdev<'h>>> {
        Ok(self
            .host
            .list(&self.dir.join("net"))?
            .into_iter()
            .filter_map(|n| n.parse::<IfName>().ok())
            .map(|n| self.host.netdev(&n))
            .collect())
    }

    /// Binds this VF to `driver` while its PF has autoprobe off: `driver_override` makes the
    /// kernel allow the probe, `drivers_probe` runs it (synchronously), then the override is
    /// cleared so later rebinds (libvirt, driverctl) behave as usual. On a real kernel the
    /// result is checked.
    pub fn bind(&self, driver: &str) -> Result<()> {
        let ctx = || format!("binding {} to {driver}", self.name);
        let ov = self.dir.join("driver_override");
        self.host.write(&ov, driver).with_context(ctx)?;
        let probe = self
            .host
            .write(&self.host.sys("bus/pci/drivers_probe"), &self.name);
        let clear = self.host.write(&ov, "\n");
        probe.with_context(ctx)?;
        clear.with_context(ctx)?;
        if self.host.is_real() {
            let now = self.driver()?;
            if now.as_deref() != Some(driver) {
                bail!(
                    "{} did not bind to {driver} (driver now: {}); the kernel log says why",
                    self.name,
                    now.as_deref().unwrap_or("none")
                );
            }
        }
        Ok(())
    }

    /// MLNX_OFED's per-PF VF GUID file `sriov/<N>/{node,port}` (upstream kernels have none and
    /// set VF GUIDs through rtnetlink only). `mlx5_bond_0/device/sriov/N` is this file of the
    /// bond's first PF.
    pub fn vf_guid_file(&self, vf: u32, kind: GuidKind) -> PathBuf {
        self.dir.join(format!("sriov/{vf}/{}", kind.file()))
    }

    /// MLNX_OFED's `sriov/` directory, which mlx5_core makes when it binds the PF, before any
    /// VF exists (its `sriov/<N>` appear with the VFs).
    pub fn vf_sysfs_dir(&self) -> PathBuf {
        self.dir.join("sriov")
    }

    pub fn has_vf_sysfs_dir(&self) -> bool {
        self.host.exists(&self.vf_sysfs_dir())
    }

    /// Whether VF 0's `sriov/0` has a `port` GUID file: MLNX_OFED makes it for InfiniBand
    /// ports only (`vf_ib_attrs`: node, port, policy); an Ethernet (RoCE) port's
    /// (`vf_eth_attrs`) has `node` with mac, vlan and the like, and no `port`.
    pub fn has_vf_port_guid_file(&self) -> bool {
        self.host.exists(&self.vf_guid_file(0, GuidKind::Port))
    }

    /// Whether this PF has MLNX_OFED's per-PF GUID files (checked on VF 0's node file).
    pub fn has_vf_guid_files(&self) -> bool {
        self.host.exists(&self.vf_guid_file(0, GuidKind::Node))
    }

    pub fn vf_guid(&self, vf: u32, kind: GuidKind) -> Result<Option<Guid>> {
        let p = self.vf_guid_file(vf, kind);
        match self.host.read_opt(&p)? {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|m: String| anyhow::anyhow!("{}: {m}", p.display())),
        }
    }

    pub fn set_vf_guid(&self, vf: u32, kind: GuidKind, guid: Guid) -> Result<()> {
        self.host
            .write(&self.vf_guid_file(vf, kind), &guid.to_string())
    }

    /// MLNX_OFED's per-PF `sriov/<N>/policy` (mlx5_core's sriov_sysfs.c: reads and takes
    /// `Follow`, `Up`, `Down`). Upstream kernels have no such file: the policy is the VF link
    /// state there (rtnetlink IFLA_VF_LINK_STATE through an IPoIB netdev).
    pub fn vf_policy_file(&self, vf: u32) -> PathBuf {
        self.dir.join(format!("sriov/{vf}/policy"))
    }

    pub fn has_vf_policy_file(&self) -> bool {
        self.host.exists(&self.vf_policy_file(0))
    }

    /// The policy as the file says; `None` when there is no file. A value the driver should
    /// not print is an error naming the file.
    pub fn vf_policy(&self, vf: u32) -> Result<Option<crate::config::IbPolicy>> {
        let p = self.vf_policy_file(vf);
        match self.host.read_opt(&p)? {
            None => Ok(None),
            Some(s) => crate::config::IbPolicy::from_sysfs(&s)
                .map(Some)
                .with_context(|| format!("{}: {s:?} is not Follow, Up or Down", p.display())),
        }
    }

    pub fn set_vf_policy(&self, vf: u32, policy: crate::config::IbPolicy) -> Result<()> {
        self.host.write(&self.vf_policy_file(vf), policy.sysfs())
    }

    /// The RDMA devices of this function (`infiniband/<dev>`, e.g. `mlx5_0`), by name.
    pub fn ib_devices(&self) -> Result<Vec<String>> {
        let mut v = self.host.list(&self.dir.join("infiniband"))?;
        v.sort();
        Ok(v)
    }

    /// The first RDMA device of this function whose port 1 is InfiniBand
    /// (`infiniband/<dev>/ports/1/link_layer`), not Ethernet (RoCE).
    pub fn infiniband_port(&self) -> Result<Option<String>> {
        for d in self.ib_devices()? {
            let ll = self
                .host
                .read_opt(&self.dir.join(format!("infiniband/{d}/ports/1/link_layer")))?;
            if ll.as_deref() == Some("InfiniBand") {
                return Ok(Some(d));
            }
        }
        Ok(None)
    }

    /// `numa_node`: -1 when the firmware gives no locality; `None` when absent.
    pub fn numa_node(&self) -> Result<Option<i32>> {
        let p = self.dir.join("numa_node");
        self.host
            .read_opt(&p)?
            .map(|s| {
                s.parse::<i32>()
                    .with_context(|| format!("{}: {s:?} is not a number", p.display()))
            })
            .transpose()
    }

    /// `local_cpulist` as the kernel prints it; `None` when absent.
    pub fn local_cpulist(&self) -> Result<Option<String>> {
        self.host.read_opt(&self.dir.join("local_cpulist"))
    }

    /// The interrupt numbers of the function's MSI/MSI-X vectors (`msi_irqs/`), ascending.
    pub fn msi_irqs(&self) -> Result<Vec<u32>> {
        let mut v: Vec<u32> = self
            .host
            .list(&self.dir.join("msi_irqs"))?
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect();
        v.sort_unstable();
        Ok(v)
    }
}

pub struct PciDriver<'h> {
    host: &'h Host,
    dir: PathBuf,
    name: String,
}

impl PciDriver<'_> {
    /// Loaded (the driver's directory exists).
    pub fn is_loaded(&self) -> bool {
        self.host.exists(&self.dir)
    }

    /// Errors when the driver is not loaded, naming the directory that is missing.
    pub fn require_loaded(&self) -> Result<()> {
        if !self.is_loaded() {
            bail!(
                "the driver is not loaded ({} is missing)",
                self.dir.display()
            );
        }
        Ok(())
    }

    pub fn unbind(&self, dev: &Device) -> Result<()> {
        self.host
            .write(&self.dir.join("unbind"), dev.name())
            .with_context(|| format!("unbinding {} from {}", dev.name(), self.name))
    }
}
