//! Builds fixture trees shaped like a real mlx5 hypervisor: PCI devices under /sys/devices with
//! the same relative symlinks the kernel makes (class/net, bus/pci/devices, virtfnN, physfn,
//! driver, subsystem), representors sharing the PF's phys_switch_id, compat/devlink/mode of
//! MLNX_OFED kernels, `mlx5_bond_0` with per-VF GUID files and the LAG debugfs state, and a
//! standalone InfiniBand PF (seed 004) with or without an IPoIB netdev.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

pub struct Fixture {
    pub dir: tempfile::TempDir,
}

pub struct Pf<'a> {
    pub name: &'a str,
    pub pci: &'a str,
    pub numvfs: u32,
    pub totalvfs: u32,
    pub switchdev: bool,
    pub vf_driver: Option<&'a str>,
    pub vf_up: bool,
    pub master: Option<&'a str>,
    pub autoprobe: bool,
}

impl<'a> Pf<'a> {
    pub fn new(name: &'a str, pci: &'a str) -> Self {
        Pf {
            name,
            pci,
            numvfs: 0,
            totalvfs: 64,
            switchdev: false,
            vf_driver: None,
            vf_up: false,
            master: None,
            autoprobe: true,
        }
    }
}

/// A standalone InfiniBand PF ([`Fixture::add_ib_pf`]), seed 004's by default: `mlx5_0` at
/// 0000:af:00.0 without IPoIB, no VFs yet, MLNX_OFED's per-PF `sriov/` files.
pub struct IbPf<'a> {
    pub pci: &'a str,
    pub ib: &'a str,
    pub netdev: Option<&'a str>,
    pub numvfs: u32,
    pub totalvfs: u32,
    pub vf_driver: Option<&'a str>,
    pub guid_files: bool,
    /// Per VF: node GUID, port GUID, policy in `sriov/<N>` (default: zero GUIDs, `Down`).
    pub vf_ib: Vec<(&'a str, &'a str, &'a str)>,
}

impl Default for IbPf<'_> {
    fn default() -> Self {
        IbPf {
            pci: "0000:af:00.0",
            ib: "mlx5_0",
            netdev: None,
            numvfs: 0,
            totalvfs: 8,
            vf_driver: None,
            guid_files: true,
            vf_ib: vec![],
        }
    }
}

pub fn write(p: &Path, s: &str) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, s).unwrap();
}

pub fn link(target: &str, at: &Path) {
    fs::create_dir_all(at.parent().unwrap()).unwrap();
    let _ = fs::remove_file(at);
    symlink(target, at).unwrap();
}

/// Path of `to` relative to directory `from` (both absolute under the fixture root).
fn rel(from: &Path, to: &Path) -> String {
    let f: Vec<_> = from.components().collect();
    let t: Vec<_> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut s = PathBuf::new();
    for _ in common..f.len() {
        s.push("..");
    }
    for c in &t[common..] {
        s.push(c);
    }
    s.to_string_lossy().into_owned()
}

impl Fixture {
    pub fn new() -> Fixture {
        let f = Fixture {
            dir: tempfile::tempdir().unwrap(),
        };
        write(
            &f.path("proc/sys/kernel/random/boot_id"),
            "5f1c1f7e-0d7b-4b5e-9a55-0c1e6f1e2a01\n",
        );
        write(&f.path("proc/sys/kernel/hostname"), "hv-07\n");
        write(&f.path("sys/bus/pci/drivers_probe"), "");
        for d in ["mlx5_core", "vfio-pci"] {
            write(&f.path(&format!("sys/bus/pci/drivers/{d}/bind")), "");
            write(&f.path(&format!("sys/bus/pci/drivers/{d}/unbind")), "");
        }
        fs::create_dir_all(f.path("run")).unwrap();
        fs::create_dir_all(f.path("etc/sriov-offload")).unwrap();
        f
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn pci_dir(&self, pci: &str) -> PathBuf {
        self.path(&format!("sys/devices/pci0000:3a/0000:3a:00.0/{pci}"))
    }

    #[allow(clippy::too_many_arguments)] // mirrors the sysfs attributes one to one
    fn netdev(
        &self,
        dev: &Path,
        name: &str,
        flags: &str,
        switch_id: Option<&str>,
        port: Option<&str>,
        mac: &str,
        master: Option<&str>,
    ) {
        let nd = dev.join("net").join(name);
        write(&nd.join("flags"), &format!("{flags}\n"));
        write(&nd.join("address"), &format!("{mac}\n"));
        write(&nd.join("mtu"), "1500\n");
        if let Some(s) = switch_id {
            write(&nd.join("phys_switch_id"), &format!("{s}\n"));
        }
        if let Some(p) = port {
            write(&nd.join("phys_port_name"), &format!("{p}\n"));
        }
        link(&rel(&nd, dev), &nd.join("device"));
        link(
            &rel(&self.path("sys/class/net"), &nd),
            &self.path(&format!("sys/class/net/{name}")),
        );
        if let Some(m) = master {
            let bond = self.path(&format!("sys/devices/virtual/net/{m}"));
            if !bond.exists() {
                write(&bond.join("flags"), "0x1403\n");
                write(&bond.join("address"), "02:00:00:00:b0:01\n");
                link(
                    &rel(&self.path("sys/class/net"), &bond),
                    &self.path(&format!("sys/class/net/{m}")),
                );
            }
            link(&rel(&nd, &bond), &nd.join("master"));
        }
    }

    /// Adds a ConnectX PF with `numvfs` VFs (functions .2 up) and, in switchdev, representors.
    pub fn add_pf(&self, pf: &Pf) {
        let dev = self.pci_dir(pf.pci);
        let func: u32 = pf.pci[11..].parse().unwrap();
        write(&dev.join("sriov_numvfs"), &format!("{}\n", pf.numvfs));
        write(&dev.join("sriov_totalvfs"), &format!("{}\n", pf.totalvfs));
        write(
            &dev.join("sriov_drivers_autoprobe"),
            if pf.autoprobe { "1\n" } else { "0\n" },
        );
        write(&dev.join("driver_override"), "(null)\n");
        link(
            &rel(&dev, &self.path("sys/bus/pci/drivers/mlx5_core")),
            &dev.join("driver"),
        );
        link(
            &rel(&dev, &self.path("sys/bus/pci")),
            &dev.join("subsystem"),
        );
        link(
            &rel(&self.path("sys/bus/pci/devices"), &dev),
            &self.path(&format!("sys/bus/pci/devices/{}", pf.pci)),
        );
        let switch_id = "e41d2d0300b1c2d4";
        let (sw, port) = if pf.switchdev {
            (Some(switch_id), Some(format!("p{func}")))
        } else {
            (None, None)
        };
        self.netdev(
            &dev,
            pf.name,
            "0x1003",
            sw,
            port.as_deref(),
            &format!("b8:59:9f:00:00:0{func}"),
            pf.master,
        );
        write(
            &dev.join(format!("net/{}/compat/devlink/mode", pf.name)),
            if pf.switchdev {
                "switchdev\n"
            } else {
                "legacy\n"
            },
        );
        let bus = &pf.pci[..7];
        for i in 0..pf.numvfs {
            // ConnectX VFs start at function 2 of the PF's bus (after the two PFs), 8 per device
            let n = 2 + i + func * 64;
            let vpci = format!("{bus}:{:02x}.{}", n / 8, n % 8);
            let vdev = self.pci_dir(&vpci);
            link(&rel(&dev, &vdev), &dev.join(format!("virtfn{i}")));
            link(&rel(&vdev, &dev), &vdev.join("physfn"));
            link(
                &rel(&vdev, &self.path("sys/bus/pci")),
                &vdev.join("subsystem"),
            );
            write(&vdev.join("driver_override"), "(null)\n");
            link(
                &rel(&self.path("sys/bus/pci/devices"), &vdev),
                &self.path(&format!("sys/bus/pci/devices/{vpci}")),
            );
            if let Some(d) = pf.vf_driver {
                link(
                    &rel(&vdev, &self.path(&format!("sys/bus/pci/drivers/{d}"))),
                    &vdev.join("driver"),
                );
                if d == "mlx5_core" {
                    let flags = if pf.vf_up { "0x1003" } else { "0x1002" };
                    self.netdev(
                        &vdev,
                        &format!("{}v{i}", pf.name),
                        flags,
                        None,
                        None,
                        &format!("02:00:00:00:{func:02x}:{i:02x}"),
                        None,
                    );
                }
            }
            if pf.switchdev {
                self.netdev(
                    &dev,
                    &format!("{}_{i}", pf.name),
                    "0x1002",
                    Some(switch_id),
                    Some(&format!("pf{func}vf{i}")),
                    &format!("7e:00:00:00:{func:02x}:{i:02x}"),
                    None,
                );
            }
        }
    }

    /// `mlx5_bond_0` over `pf_pci`, with GUID files for `vfs` VFs and the LAG state.
    /// `mlx5_bond_0` over a bond whose first PF is `pf_pci`: its `device` link is that PF's PCI
    /// device, so `mlx5_bond_0/device/sriov/N` are the first PF's VFs only. The per-PF GUID
    /// files are MLNX_OFED's (upstream kernels have none: rtnetlink sets VF GUIDs there).
    pub fn add_ib_bond(&self, pf_pci: &str, vfs: u32, lag_state: &str) {
        let ib = self.path("sys/devices/virtual/infiniband/mlx5_bond_0");
        fs::create_dir_all(&ib).unwrap();
        link(&rel(&ib, &self.pci_dir(pf_pci)), &ib.join("device"));
        link(
            &rel(&self.path("sys/class/infiniband"), &ib),
            &self.path("sys/class/infiniband/mlx5_bond_0"),
        );
        self.add_guid_files(pf_pci, vfs);
        self.set_lag_state(pf_pci, lag_state);
    }

    /// MLNX_OFED's per-PF `sriov/N` of an Ethernet (RoCE) port for the VFs of one PF, as
    /// mlx5_core's sriov_sysfs.c makes them (`vf_eth_attrs`): `node` with mac, vlan,
    /// link_state, spoofcheck, trust, the tx rates, config, trunk and stats — no `port` and no
    /// `policy`, which are an InfiniBand port's (`vf_ib_attrs`, see `add_ib_pf`) — and the PF's
    /// own `sriov/pf/min_tx_rate`. MLNX_OFED only: upstream mlx5 has none of these files.
    pub fn add_guid_files(&self, pf_pci: &str, vfs: u32) {
        let sriov = self.pci_dir(pf_pci).join("sriov");
        for i in 0..vfs {
            let d = sriov.join(i.to_string());
            write(&d.join("node"), "00:00:00:00:00:00:00:00\n");
            write(&d.join("mac"), "00:00:00:00:00:00\n");
            write(&d.join("vlan"), "0\n");
            write(&d.join("link_state"), "Follow\n");
            write(&d.join("spoofcheck"), "OFF\n");
            write(&d.join("trust"), "OFF\n");
            write(&d.join("max_tx_rate"), "0\n");
            write(&d.join("min_tx_rate"), "0\n");
        }
        write(&sriov.join("pf/min_tx_rate"), "0\n");
    }

    /// A standalone InfiniBand PF as seed 004's host has it (a ConnectX in IB mode, no bond):
    /// the PF under its own root port, its RDMA device `infiniband/<ib>` with
    /// `class/infiniband/<ib>` pointing at it, VFs at the next functions (`virtfnN` →
    /// `../0000:af:00.1`, `physfn`, `driver`), and, with `netdev`, an IPoIB netdev.
    pub fn add_ib_pf(&self, pf: &IbPf) {
        let root = self.path("sys/devices/pci0000:ae/0000:ae:00.0");
        let dev = root.join(pf.pci);
        write(&dev.join("sriov_numvfs"), &format!("{}\n", pf.numvfs));
        write(&dev.join("sriov_totalvfs"), &format!("{}\n", pf.totalvfs));
        write(&dev.join("sriov_drivers_autoprobe"), "1\n");
        write(&dev.join("driver_override"), "(null)\n");
        // MLNX_OFED only (mlx5_core sriov_sysfs.c): `mlx5_num_vfs`, which seed 004 writes; it
        // does what the PCI core's `sriov_numvfs` does, which is what we write
        write(&dev.join("mlx5_num_vfs"), &format!("{}\n", pf.numvfs));
        self.pci_links(&dev, pf.pci);
        self.rdma_device(&dev, pf.ib);
        if let Some(n) = pf.netdev {
            self.ipoib(&dev, n, "0x1003", 0);
        }
        if pf.guid_files {
            // MLNX_OFED only: mlx5_core (sriov_sysfs.c) makes the empty `sriov/` when the
            // driver loads and `sriov/<N>/{node,port,policy}` for IB ports when VFs are
            // enabled (an Ethernet port's `sriov/<N>` has `node` but neither `port` nor
            // `policy`). Upstream kernels have none of it: VF GUIDs are rtnetlink's
            // IFLA_VF_IB_NODE_GUID / _PORT_GUID (since 4.6, "net/core: Add support for
            // configuring VF GUIDs"), read back only since "net/core: Add support for getting
            // VF GUIDs" (2019; first release unverified), through an IPoIB netdev.
            fs::create_dir_all(dev.join("sriov")).unwrap();
        }
        let bus = &pf.pci[..7];
        for i in 0..pf.numvfs {
            // a single-port ConnectX in IB mode: VFs from function 1 of the PF's device
            let n = 1 + i;
            let vpci = format!("{bus}:{:02x}.{}", n / 8, n % 8);
            let vdev = root.join(&vpci);
            link(&rel(&dev, &vdev), &dev.join(format!("virtfn{i}")));
            link(&rel(&vdev, &dev), &vdev.join("physfn"));
            write(&vdev.join("driver_override"), "(null)\n");
            self.pci_links(&vdev, &vpci);
            if pf.guid_files {
                let (node, port, policy) = pf.vf_ib.get(i as usize).copied().unwrap_or((
                    "00:00:00:00:00:00:00:00",
                    "00:00:00:00:00:00:00:00",
                    "Down",
                ));
                let d = dev.join(format!("sriov/{i}"));
                write(&d.join("node"), &format!("{node}\n"));
                write(&d.join("port"), &format!("{port}\n"));
                write(&d.join("policy"), &format!("{policy}\n"));
            }
            if let Some(drv) = pf.vf_driver {
                link(
                    &rel(&vdev, &self.path(&format!("sys/bus/pci/drivers/{drv}"))),
                    &vdev.join("driver"),
                );
                if drv == "mlx5_core" {
                    // a bound VF is an RDMA device of its own (mlx5_1, ...), with IPoIB a netdev
                    self.rdma_device(&vdev, &format!("mlx5_{}", i + 1));
                    if let Some(n) = pf.netdev {
                        self.ipoib(&vdev, &format!("{n}v{i}"), "0x1002", i + 1);
                    }
                }
            }
        }
    }

    /// `driver` (mlx5_core), `subsystem` and `bus/pci/devices/<pci>` of a PCI function at `dev`.
    fn pci_links(&self, dev: &Path, pci: &str) {
        link(
            &rel(dev, &self.path("sys/bus/pci/drivers/mlx5_core")),
            &dev.join("driver"),
        );
        link(&rel(dev, &self.path("sys/bus/pci")), &dev.join("subsystem"));
        link(
            &rel(&self.path("sys/bus/pci/devices"), dev),
            &self.path(&format!("sys/bus/pci/devices/{pci}")),
        );
    }

    /// An RDMA device of the PCI function at `dev`: `infiniband/<name>` with its `device` link
    /// (`../../../<BDF>`) and `class/infiniband/<name>` → `../../devices/.../infiniband/<name>`.
    fn rdma_device(&self, dev: &Path, name: &str) {
        let ib = dev.join("infiniband").join(name);
        write(&ib.join("node_type"), "1: CA\n");
        write(&ib.join("ports/1/link_layer"), "InfiniBand\n");
        link(&rel(&ib, dev), &ib.join("device"));
        link(
            &rel(&self.path("sys/class/infiniband"), &ib),
            &self.path(&format!("sys/class/infiniband/{name}")),
        );
    }

    /// An IPoIB netdev (type 32, a 20-byte hardware address) of the PCI function at `dev`.
    fn ipoib(&self, dev: &Path, name: &str, flags: &str, n: u32) {
        let nd = dev.join("net").join(name);
        write(&nd.join("flags"), &format!("{flags}\n"));
        write(&nd.join("type"), "32\n");
        write(
            &nd.join("address"),
            &format!("00:00:10:87:fe:80:00:00:00:00:00:00:b8:59:9f:03:00:af:00:{n:02x}\n"),
        );
        link(&rel(&nd, dev), &nd.join("device"));
        link(
            &rel(&self.path("sys/class/net"), &nd),
            &self.path(&format!("sys/class/net/{name}")),
        );
    }

    /// The mlx5 VF-LAG state in debugfs, which each PF of the LAG has: upstream mlx5_core's
    /// `lag/debugfs.c` (`state` reads `active` or `disabled`; added in 2022, first release
    /// unverified here).
    pub fn set_lag_state(&self, pf_pci: &str, state: &str) {
        write(
            &self.path(&format!("sys/kernel/debug/mlx5/{pf_pci}/lag/state")),
            &format!("{state}\n"),
        );
    }

    /// A file of the tree (created with its directories).
    pub fn file(&self, rel: &str, text: &str) {
        write(&self.path(rel), text);
    }

    /// Online CPUs `cpus` on one NUMA node, the kernel release, the CPU vendor and the kernel
    /// command line: what irq-tune and `check` read besides the devices.
    pub fn host_basics(&self, cpus: &str, cmdline: &str) {
        self.file("sys/devices/system/cpu/online", &format!("{cpus}\n"));
        self.file("sys/devices/system/cpu/possible", &format!("{cpus}\n"));
        self.file(
            "sys/devices/system/node/node0/cpulist",
            &format!("{cpus}\n"),
        );
        self.file("proc/sys/kernel/osrelease", "6.1.0-28-amd64\n");
        self.file(
            "proc/cpuinfo",
            "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6230\n",
        );
        self.file("proc/cmdline", &format!("{cmdline}\n"));
        self.file("dev/kmsg", "");
        fs::create_dir_all(self.path("sys/kernel/iommu_groups")).unwrap();
    }

    pub fn iommu_groups(&self, n: u32) {
        for i in 0..n {
            fs::create_dir_all(self.path(&format!("sys/kernel/iommu_groups/{i}/devices"))).unwrap();
        }
    }

    /// `systemctl enable sriov-offload.target`.
    pub fn enable_target(&self) {
        link(
            "/usr/lib/systemd/system/sriov-offload.target",
            &self.path("etc/systemd/system/multi-user.target.wants/sriov-offload.target"),
        );
    }

    /// A running process.
    pub fn process(&self, pid: u32, comm: &str) {
        self.file(&format!("proc/{pid}/comm"), &format!("{comm}\n"));
    }

    /// `n` mlx5 completion vectors per PCI function from `base` (affinity `affinity`), with
    /// the PF's locality (`numa_node` 0, `local_cpulist`), in /proc/interrupts.
    pub fn mlx5_irqs(&self, devs: &[(&str, u32, u32, &str)], local: &str) {
        let mut table = String::from("            CPU0       CPU1\n");
        for (pci, base, n, affinity) in devs {
            let dev = self.path(&format!("sys/bus/pci/devices/{pci}"));
            let dev = fs::canonicalize(&dev).unwrap_or(dev);
            write(&dev.join("numa_node"), "0\n");
            write(&dev.join("local_cpulist"), &format!("{local}\n"));
            for q in 0..*n {
                let irq = base + q;
                write(&dev.join(format!("msi_irqs/{irq}")), "msix\n");
                self.file(
                    &format!("proc/irq/{irq}/smp_affinity_list"),
                    &format!("{affinity}\n"),
                );
                table += &format!(
                    "{irq:>4}:          0          0  IR-PCI-MSI {}-edge      mlx5_comp{q}@pci:{pci}\n",
                    9000 + irq
                );
            }
        }
        self.file("proc/interrupts", &table);
    }

    /// Writes the main config as an admin installs it: root's, 0644 whatever the umask (the
    /// loader refuses a group- or world-writable config).
    pub fn config(&self, text: &str) -> PathBuf {
        let p = self.path("etc/sriov-offload/config.toml");
        write(&p, text);
        fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        p
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Every regular file and its content, and every symlink target: compared before and
    /// after a run to prove it wrote nothing.
    pub fn snapshot(&self) -> BTreeMap<String, String> {
        snapshot(self.root())
    }
}

/// Every regular file under `root` with its content, and every symlink with its target.
pub fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let ft = e.file_type().unwrap();
            let key = p.strip_prefix(root).unwrap().display().to_string();
            if ft.is_symlink() {
                out.insert(key, format!("-> {}", fs::read_link(&p).unwrap().display()));
            } else if ft.is_dir() {
                stack.push(p);
            } else {
                out.insert(key, fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    out
}

/// Compares `actual` with `tests/golden/<rel>`; `UPDATE_GOLDEN=1` rewrites the file instead
/// (review the diff before committing it).
pub fn golden(rel: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(rel);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, actual).unwrap();
    }
    let want = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create)",
            path.display()
        )
    });
    assert_eq!(actual, want, "output differs from {}", path.display());
}
