//! Builds fixture trees shaped like a real mlx5 hypervisor: PCI devices under /sys/devices with
//! the same relative symlinks the kernel makes (class/net, bus/pci/devices, virtfnN, physfn,
//! driver, subsystem), representors sharing the PF's phys_switch_id, compat/devlink/mode of
//! MLNX_OFED kernels, `mlx5_bond_0` with per-VF GUID files and the LAG debugfs state.
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

    /// MLNX_OFED's per-PF `sriov/N/{node,port,policy}` for the VFs of one PF.
    pub fn add_guid_files(&self, pf_pci: &str, vfs: u32) {
        for i in 0..vfs {
            let d = self.pci_dir(pf_pci).join(format!("sriov/{i}"));
            write(&d.join("node"), "00:00:00:00:00:00:00:00\n");
            write(&d.join("port"), "00:00:00:00:00:00:00:00\n");
            write(&d.join("policy"), "Down\n");
        }
    }

    /// The mlx5 VF-LAG state in debugfs, which each PF of the LAG has.
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
