//! Host facts the operator tool's `check` reads beyond the devices: IOMMU groups, the kernel
//! command line and log, CPU vendor, running processes, and the configuration of other software
//! that can fight ours (rc.local scripts, ifupdown stanzas, systemd unit enablement,
//! NetworkManager, systemd-networkd `.network`/`.link` files, udev properties of netdevs,
//! kernel modules). Reads only; each path is spelled here and nowhere else.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::Host;
use crate::types::IfName;

/// A text file of some other software's configuration, as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextFile {
    /// The path on the host (without the fixture root), for messages and fixes.
    pub path: PathBuf,
    pub text: String,
}

/// systemd-networkd's search path for `.network` and `.link` files, highest priority first.
const NETWORKD_DIRS: [&str; 4] = [
    "etc/systemd/network",
    "run/systemd/network",
    "usr/local/lib/systemd/network",
    "usr/lib/systemd/network",
];

/// Where the kernel lists IOMMU groups (also named in `check`'s finding).
pub const IOMMU_GROUPS: &str = "/sys/kernel/iommu_groups";

impl Host {
    /// The path as the host names it: the root prefix of a fixture tree stripped.
    pub fn shown(&self, p: &Path) -> PathBuf {
        match p.strip_prefix(&self.root) {
            Ok(rel) => Path::new("/").join(rel),
            Err(_) => p.to_path_buf(),
        }
    }

    /// A whole text file; `None` when it does not exist. Never follows into a FIFO: opened
    /// non-blocking, and only regular files are read.
    fn text_file(&self, p: &Path) -> Result<Option<TextFile>> {
        let f = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(p)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", p.display())),
        };
        if !f.metadata().is_ok_and(|m| m.is_file()) {
            return Ok(None);
        }
        let mut b = vec![];
        // a config or script of a few KiB; more is not read
        f.take(1 << 20)
            .read_to_end(&mut b)
            .with_context(|| format!("reading {}", p.display()))?;
        Ok(Some(TextFile {
            path: self.shown(p),
            text: String::from_utf8_lossy(&b).into_owned(),
        }))
    }

    /// The regular files of a directory whose names pass `keep`, sorted by name.
    fn text_files_in(&self, dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<TextFile>> {
        let mut out = vec![];
        for n in self.list(dir)?.into_iter().filter(|n| keep(n)) {
            out.extend(self.text_file(&dir.join(n))?);
        }
        Ok(out)
    }

    /// Number of IOMMU groups ([`IOMMU_GROUPS`]`/N`): 0 when the IOMMU is off.
    pub fn iommu_groups(&self) -> Result<usize> {
        Ok(self.list(&self.abs(Path::new(IOMMU_GROUPS)))?.len())
    }

    /// The kernel command line (`/proc/cmdline`).
    pub fn kernel_cmdline(&self) -> Result<Option<String>> {
        self.read_opt(&self.proc("cmdline"))
    }

    /// `vendor_id` of the first CPU in `/proc/cpuinfo` (`GenuineIntel`, `AuthenticAMD`).
    pub fn cpu_vendor(&self) -> Result<Option<String>> {
        let Some(f) = self.text_file(&self.proc("cpuinfo"))? else {
            return Ok(None);
        };
        Ok(f.text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "vendor_id").then(|| v.trim().to_string())
        }))
    }

    /// The kernel log's messages (`/dev/kmsg`, read without blocking: one record per read,
    /// EAGAIN at the end) that contain one of `needles`. `None` when the log cannot be read
    /// (not root with `kernel.dmesg_restrict`).
    pub fn kernel_log_matching(&self, needles: &[&str]) -> Result<Option<Vec<String>>> {
        let p = self.root.join("dev/kmsg");
        let mut f = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(&p)
        {
            Ok(f) => f,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", p.display())),
        };
        let mut text = String::new();
        let mut buf = vec![0u8; 8192];
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // a record was overwritten while we read: go on with the next
                Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EPIPE as i32) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Ok(None),
                Err(e) => return Err(e).with_context(|| format!("reading {}", p.display())),
            }
        }
        // `PRIO,SEQ,USEC,FLAGS;message`; continuation lines (` KEY=value`) are dropped
        Ok(Some(
            text.lines()
                .filter(|l| !l.starts_with(' '))
                .map(|l| l.split_once(';').map_or(l, |(_, m)| m))
                .filter(|m| needles.iter().any(|n| m.contains(n)))
                .map(str::to_string)
                .collect(),
        ))
    }

    /// The command names (`/proc/PID/comm`) of the running processes.
    pub fn process_names(&self) -> Result<BTreeSet<String>> {
        let mut out = BTreeSet::new();
        for pid in self.list(&self.proc(""))? {
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            // a process may exit while we look
            if let Ok(Some(c)) = self.read_opt(&self.proc(format!("{pid}/comm"))) {
                out.insert(c);
            }
        }
        Ok(out)
    }

    /// Seed-era scripts: `/etc/rc.local`, `/etc/rc.local.*` (`rc.local.head`,
    /// `rc.local.offload`, `rc.local.wait_offload`) and `/etc/network/bond.offload.{pre,post}`.
    pub fn boot_scripts(&self) -> Result<Vec<TextFile>> {
        let mut out = self.text_files_in(&self.etc(""), |n| {
            n == "rc.local" || n.starts_with("rc.local.")
        })?;
        out.extend(self.text_files_in(&self.etc("network"), |n| n.starts_with("bond.offload."))?);
        Ok(out)
    }

    /// ifupdown's `/etc/network/interfaces` and the files of `/etc/network/interfaces.d/`.
    pub fn ifupdown_files(&self) -> Result<Vec<TextFile>> {
        let mut out: Vec<TextFile> = self
            .text_file(&self.etc("network/interfaces"))?
            .into_iter()
            .collect();
        out.extend(self.text_files_in(&self.etc("network/interfaces.d"), |n| !n.starts_with('.'))?);
        Ok(out)
    }

    /// The `.wants` directories under `/etc/systemd/system` that hold `unit` (what
    /// `systemctl enable` made), e.g. `multi-user.target.wants`.
    pub fn unit_wanted_by(&self, unit: &str) -> Result<Vec<String>> {
        let dir = self.etc("systemd/system");
        Ok(self
            .list(&dir)?
            .into_iter()
            .filter(|n| n.ends_with(".wants") || n.ends_with(".requires"))
            .filter(|n| self.exists(&dir.join(n).join(unit)))
            .collect())
    }

    /// NetworkManager's `NetworkManager.conf` and `conf.d/*.conf` (in /etc and /usr/lib).
    pub fn networkmanager_conf(&self) -> Result<Vec<TextFile>> {
        let mut out: Vec<TextFile> = self
            .text_file(&self.etc("NetworkManager/NetworkManager.conf"))?
            .into_iter()
            .collect();
        for d in [
            self.root.join("usr/lib/NetworkManager/conf.d"),
            self.etc("NetworkManager/conf.d"),
        ] {
            out.extend(self.text_files_in(&d, |n| n.ends_with(".conf"))?);
        }
        Ok(out)
    }

    /// systemd-networkd's files with this extension (`.network`, `.link`) in the order it
    /// applies them: by file name, a name in a higher-priority directory hiding the same
    /// name in a lower one.
    pub fn networkd_files(&self, ext: &str) -> Result<Vec<TextFile>> {
        let mut by_name: std::collections::BTreeMap<String, TextFile> = Default::default();
        for d in NETWORKD_DIRS.iter().rev() {
            let dir = self.root.join(d);
            for n in self.list(&dir)?.into_iter().filter(|n| n.ends_with(ext)) {
                if let Some(f) = self.text_file(&dir.join(&n))? {
                    by_name.insert(n, f);
                }
            }
        }
        Ok(by_name.into_values().collect())
    }

    /// udevd runs (its control socket exists): new netdevs are renamed by its rules and
    /// recorded in its database before anyone should use their names.
    pub fn udev_running(&self) -> bool {
        self.exists(&self.run("udev/control"))
    }

    /// udev has processed the netdev's `add` (rules run, renamed, database written): the same
    /// test as systemd's `sd_device_get_is_initialized`, which networkd waits on. False also
    /// when no netdev has that name (any more: udev renamed it).
    pub fn udev_initialized(&self, name: &IfName) -> Result<bool> {
        let Some(ifindex) = self.read_opt(&self.sys(format!("class/net/{name}/ifindex")))? else {
            return Ok(false);
        };
        Ok(self.exists(&self.run(format!("udev/data/n{}", ifindex.trim()))))
    }

    /// The udev database's properties of a netdev (`/run/udev/data/n<ifindex>`, `E:` lines),
    /// e.g. `NM_UNMANAGED=1`; `None` when udev has no record of it.
    pub fn udev_netdev_env(&self, name: &IfName) -> Result<Option<Vec<String>>> {
        let Some(ifindex) = self.read_opt(&self.sys(format!("class/net/{name}/ifindex")))? else {
            return Ok(None);
        };
        let Some(f) = self.text_file(&self.run(format!("udev/data/n{ifindex}")))? else {
            return Ok(None);
        };
        Ok(Some(
            f.text
                .lines()
                .filter_map(|l| l.strip_prefix("E:"))
                .map(str::to_string)
                .collect(),
        ))
    }

    /// Whether a kernel module can be loaded or is built in: listed in `modules.dep` or
    /// `modules.builtin` of the running kernel (`/lib/modules/RELEASE`). `None` when those
    /// files cannot be found.
    pub fn module_available(&self, name: &str) -> Result<Option<bool>> {
        let Some(release) = self.read_opt(&self.proc("sys/kernel/osrelease"))? else {
            return Ok(None);
        };
        let dir = self.root.join("usr/lib/modules").join(&release);
        let dir = if dir.is_dir() {
            dir
        } else {
            self.root.join("lib/modules").join(&release)
        };
        // module files use `_` or `-` interchangeably with the driver's name
        let want: BTreeSet<String> = [name.replace('-', "_"), name.replace('_', "-")].into();
        let mut known = false;
        for f in ["modules.dep", "modules.builtin"] {
            let Some(t) = self.text_file(&dir.join(f))? else {
                continue;
            };
            known = true;
            let found = t.text.lines().any(|l| {
                let path = l.split(':').next().unwrap_or("");
                let base = path.rsplit('/').next().unwrap_or("");
                let stem = base.split(".ko").next().unwrap_or("");
                want.contains(stem)
            });
            if found {
                return Ok(Some(true));
            }
        }
        Ok(known.then_some(false))
    }

    /// Whether a program is installed (an executable path such as `/usr/sbin/ovs-vswitchd`).
    pub fn installed(&self, program: &str) -> bool {
        self.exists(&self.abs(Path::new(program)))
    }

    /// Who holds the lock of `device` (`/run/sriov-offload/lock/DEVICE`), from the running
    /// kernel's lock table, without creating anything: `None` when there is no lock file or
    /// nobody holds it.
    pub fn lock_holder_of(&self, device: &str) -> Option<String> {
        let p = self.run_dir().path().join("lock").join(device);
        let f = fs::OpenOptions::new()
            .read(true)
            .custom_flags((nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_NONBLOCK).bits())
            .open(p)
            .ok()?;
        super::lock_holder(&f)
    }
}
