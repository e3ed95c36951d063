//! The host model: the only code that touches the OS filesystem. Every path under /sys, /proc
//! and /run is spelled here, under one root (`/` on a host, a fixture tree in tests via
//! `SRIOV_OFFLOAD_ROOT`), and every error names the operation, the value and the file.
//!
//! Typed handles over validated names: [`Device`] (a PF or VF: `Host::pci`, `Netdev::device`),
//! [`Netdev`] (`Host::netdev`), [`Irq`] and the CPU topology ([`cpu`]), [`IbDevice`] and the
//! mlx5 LAG state ([`ib`]), and the run directory ([`run`]: markers, map, locks). Netlink is not
//! here: `kernel` is its facade.

pub mod cpu;
mod generator;
pub mod ib;
pub mod net;
pub mod ovs;
pub mod pci;
pub mod run;
mod safe;
pub mod stats;
pub mod system;
pub mod systemd;

pub use cpu::Irq;
pub use ib::IbDevice;
pub use net::Netdev;
pub use pci::{Device, PciDriver};
pub use run::{lock_holder, LegacyMarker, RunDir, RunFile};

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result};

/// Environment variable that prefixes /sys, /proc, /run and /etc (fixture trees in tests).
pub const ROOT_ENV: &str = "SRIOV_OFFLOAD_ROOT";

pub struct Host {
    root: PathBuf,
    real: bool,
    writes: AtomicU32,
}

impl Host {
    /// `/`, or the directory named by `SRIOV_OFFLOAD_ROOT`.
    pub fn from_env() -> Host {
        match std::env::var_os(ROOT_ENV) {
            Some(r) if !r.is_empty() && r != "/" => Host::new(PathBuf::from(r)),
            _ => Host::new(PathBuf::from("/")),
        }
    }

    pub fn new(root: PathBuf) -> Host {
        let real = root == Path::new("/");
        Host {
            root,
            real,
            writes: AtomicU32::new(0),
        }
    }

    /// True when this is the running system, so kernel interfaces (netlink) describe the same
    /// world as the files. A fixture tree has no kernel behind it.
    pub fn is_real(&self) -> bool {
        self.real
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn sys(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join("sys").join(rel)
    }
    fn proc(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join("proc").join(rel)
    }
    fn run(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join("run").join(rel)
    }
    /// Config and other files under /etc (the config loader and the generator read them).
    pub fn etc(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join("etc").join(rel)
    }
    /// An absolute path from the config (e.g. a legacy marker), placed under the root.
    pub fn abs(&self, p: &Path) -> PathBuf {
        self.root.join(p.strip_prefix("/").unwrap_or(p))
    }

    /// Number of writes made through this host so far (sysfs, procfs, run files).
    pub fn writes(&self) -> u32 {
        self.writes.load(Ordering::Relaxed)
    }
    fn count_write(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads a sysfs-style attribute, trimmed.
    fn read(&self, path: &Path) -> Result<String> {
        fs::read_to_string(path)
            .map(|s| s.trim().to_string())
            .with_context(|| format!("reading {}", path.display()))
    }

    /// Like `read`, but a missing file is `None`.
    fn read_opt(&self, path: &Path) -> Result<Option<String>> {
        match fs::read_to_string(path) {
            Ok(s) => Ok(Some(s.trim().to_string())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    fn read_u32_opt(&self, path: &Path) -> Result<Option<u32>> {
        self.read_opt(path)?
            .map(|s| {
                s.parse::<u32>()
                    .with_context(|| format!("{}: {s:?} is not a number", path.display()))
            })
            .transpose()
    }

    /// Writes an attribute the way `echo value > file` does. The error names value and file,
    /// and keeps the `io::Error` as its root cause so callers can branch on EBUSY etc.
    fn write(&self, path: &Path, value: &str) -> Result<()> {
        self.count_write();
        let mut f = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)
            .with_context(|| format!("writing {value:?} to {}", path.display()))?;
        f.write_all(value.as_bytes())
            .with_context(|| format!("writing {value:?} to {}", path.display()))
    }

    /// Basename of a symlink's target (`device/driver` → `mlx5_core`); `None` if absent.
    fn link_name(&self, path: &Path) -> Result<Option<String>> {
        match fs::read_link(path) {
            Ok(t) => Ok(t.file_name().map(|n| n.to_string_lossy().into_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading link {}", path.display())),
        }
    }

    /// Reads an attribute that some devices do not implement: the kernel answers EOPNOTSUPP,
    /// EINVAL, ENODATA, ENODEV or ENOTDIR for "not applicable" (e.g. `phys_switch_id` of a
    /// plain NIC); that and an empty value are `None`.
    fn read_attr(&self, p: &Path) -> Result<Option<String>> {
        use nix::errno::Errno;
        let na = [
            Errno::EOPNOTSUPP,
            Errno::EINVAL,
            Errno::ENODATA,
            Errno::ENODEV,
            Errno::ENOTDIR,
        ];
        match self.read_opt(p) {
            Ok(v) => Ok(v.filter(|s| !s.is_empty())),
            Err(e) if errno_of(&e).is_some_and(|n| na.iter().any(|x| *x as i32 == n)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The directory a sysfs link resolves to (`class/net/X/device` → `/sys/devices/…/BDF`).
    fn resolve(&self, path: &Path) -> Result<PathBuf> {
        fs::canonicalize(path).with_context(|| format!("resolving {}", path.display()))
    }

    /// Whole file as text, untrimmed (`/proc/interrupts`).
    fn read_text(&self, path: &Path) -> Result<String> {
        fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
    }

    /// Whole file as bytes; a missing file is `None`.
    fn read_bytes_opt(&self, path: &Path) -> Result<Option<Vec<u8>>> {
        match fs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Entry names of a directory, sorted; a missing directory is empty.
    fn list(&self, path: &Path) -> Result<Vec<String>> {
        let rd = match fs::read_dir(path) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(e).with_context(|| format!("listing {}", path.display())),
        };
        let mut v = vec![];
        for e in rd {
            let e = e.with_context(|| format!("listing {}", path.display()))?;
            v.push(e.file_name().to_string_lossy().into_owned());
        }
        v.sort();
        Ok(v)
    }

    pub fn exists(&self, path: &Path) -> bool {
        path.symlink_metadata().is_ok()
    }

    /// Creates the directory and its missing parents, mode 0755 whatever the umask.
    fn create_dir_all(&self, path: &Path) -> Result<()> {
        safe::create_dir_all(path)
    }

    /// Replaces `path` atomically (random temp name created `O_EXCL|O_NOFOLLOW`, mode 0644,
    /// fsync, rename): readers see the old content or the new, never a partial file.
    fn write_atomic(&self, path: &Path, contents: &[u8]) -> Result<()> {
        self.count_write();
        safe::write_atomic(path, contents)
    }

    /// Removes a file; absent is fine.
    fn remove(&self, path: &Path) -> Result<bool> {
        match fs::remove_file(path) {
            Ok(()) => {
                self.count_write();
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
        }
    }

    /// This boot's id, to tell this boot's markers from a previous one's.
    pub fn boot_id(&self) -> Result<String> {
        self.read(&self.proc("sys/kernel/random/boot_id"))
    }

    pub fn hostname(&self) -> Result<String> {
        self.read(&self.proc("sys/kernel/hostname"))
    }
}

/// The errno behind an error chain, if it came from a system call.
pub fn errno_of(e: &anyhow::Error) -> Option<i32> {
    e.chain().find_map(|c| {
        c.downcast_ref::<io::Error>()
            .and_then(|io| io.raw_os_error())
            .or_else(|| c.downcast_ref::<nix::errno::Errno>().map(|n| *n as i32))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_error_names_value_and_file() {
        let d = tempfile::tempdir().unwrap();
        let h = Host::new(d.path().to_path_buf());
        let p = h.sys("class/net/ens1f0/device/sriov_numvfs");
        let e = h.write(&p, "32").unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("writing \"32\" to ")
                && msg.contains("sys/class/net/ens1f0/device/sriov_numvfs"),
            "{msg}"
        );
        assert_eq!(errno_of(&e), Some(libc_enoent()));
    }

    fn libc_enoent() -> i32 {
        nix::errno::Errno::ENOENT as i32
    }

    #[test]
    fn atomic_write_replaces_whole_file() {
        let d = tempfile::tempdir().unwrap();
        let h = Host::new(d.path().to_path_buf());
        let p = h.run("sriov-offload/ready");
        h.write_atomic(&p, b"first").unwrap();
        h.write_atomic(&p, b"2").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "2");
        assert_eq!(h.list(&h.run("sriov-offload")).unwrap(), vec!["ready"]);
    }
}
