//! `/run/sriov-offload`: the ready and failed markers, the VF map, the per-PF lock files; and the
//! legacy marker some consumers still wait for (`[boot] legacy_marker`).

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::Host;
use crate::types::IfName;

/// The files we keep in the run directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunFile {
    Ready,
    Failed,
    /// Offload was ready this boot and is being re-applied (a PF re-appeared or went away).
    Pending,
    VfMap,
}

impl RunFile {
    fn name(self) -> &'static str {
        match self {
            RunFile::Ready => "ready",
            RunFile::Failed => "failed",
            RunFile::Pending => "pending",
            RunFile::VfMap => "vf-map.json",
        }
    }
}

pub struct RunDir<'h> {
    host: &'h Host,
    dir: PathBuf,
}

impl Host {
    pub fn run_dir(&self) -> RunDir<'_> {
        RunDir {
            host: self,
            dir: self.run("sriov-offload"),
        }
    }

    /// A path from the config (`legacy_marker`), placed under the root.
    pub fn legacy_marker(&self, p: &Path) -> LegacyMarker<'_> {
        LegacyMarker {
            host: self,
            path: self.abs(p),
        }
    }
}

impl RunDir<'_> {
    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn file(&self, f: RunFile) -> PathBuf {
        self.dir.join(f.name())
    }

    pub fn create(&self) -> Result<()> {
        self.host.create_dir_all(&self.dir)
    }

    pub fn read(&self, f: RunFile) -> Result<Option<String>> {
        self.host.read_opt(&self.file(f))
    }

    pub fn read_bytes(&self, f: RunFile) -> Result<Option<Vec<u8>>> {
        self.host.read_bytes_opt(&self.file(f))
    }

    /// Temp file, fsync, rename: readers see the old content or the new.
    pub fn write_atomic(&self, f: RunFile, contents: &[u8]) -> Result<()> {
        self.host.write_atomic(&self.file(f), contents)
    }

    /// Removes the file; absent is fine. True when something was removed.
    pub fn remove(&self, f: RunFile) -> Result<bool> {
        self.host.remove(&self.file(f))
    }

    /// `pf/<name>`: one configured PF's own state, beside the whole-host markers.
    pub fn pf_file(&self, pf: &IfName) -> PathBuf {
        self.dir.join("pf").join(pf.as_str())
    }

    pub fn read_pf(&self, pf: &IfName) -> Result<Option<String>> {
        self.host.read_opt(&self.pf_file(pf))
    }

    /// Atomically, like the whole-host markers (mode 0644).
    pub fn write_pf(&self, pf: &IfName, contents: &[u8]) -> Result<()> {
        self.host.create_dir_all(&self.dir.join("pf"))?;
        self.host.write_atomic(&self.pf_file(pf), contents)
    }

    pub fn remove_pf(&self, pf: &IfName) -> Result<bool> {
        self.host.remove(&self.pf_file(pf))
    }

    /// The PFs that have a state file; a name that is no interface name is not ours.
    pub fn pf_names(&self) -> Result<Vec<IfName>> {
        Ok(self
            .host
            .list(&self.dir.join("pf"))?
            .into_iter()
            .filter_map(|n| n.parse::<IfName>().ok())
            .collect())
    }

    /// Opens (creating, mode 0600) the lock file of one device, `lock/<device>`, for `flock`.
    pub fn lock_file(&self, device: &str) -> Result<(File, PathBuf)> {
        let dir = self.dir.join("lock");
        self.host.create_dir_all(&dir)?;
        let path = dir.join(device);
        Ok((super::safe::open_lock(&path)?, path))
    }
}

pub struct LegacyMarker<'h> {
    host: &'h Host,
    path: PathBuf,
}

impl LegacyMarker<'_> {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn exists(&self) -> bool {
        self.host.exists(&self.path)
    }

    /// Creates the empty marker at its final name (`O_CREAT|O_EXCL|O_NOFOLLOW`, mode 0644,
    /// through directories opened without following links). What is already there is kept
    /// when it is ours and refused otherwise (a planted symlink, FIFO or directory). True when
    /// it was created now.
    pub fn touch(&self) -> Result<bool> {
        let created = super::safe::create_marker(self.host.root(), &self.path)?;
        if created == super::safe::Created::New {
            self.host.count_write();
        }
        Ok(created == super::safe::Created::New)
    }

    /// Removes the marker when it is ours (a regular file owned by us with one link); anything
    /// else there is left alone and named in the error. True when removed.
    pub fn remove(&self) -> Result<bool> {
        let removed = super::safe::remove_marker(self.host.root(), &self.path)?;
        if removed {
            self.host.count_write();
        }
        Ok(removed)
    }
}

/// Who holds the `flock` on `f`, from the running kernel's lock table: `pid N (comm)`.
/// `flock` is always the running kernel's, even on a fixture tree, so this reads the real
/// `/proc` and not the root's. `None` when nobody (any more) or the table is unreadable.
pub fn lock_holder(f: &File) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let md = f.metadata().ok()?;
    let (maj, min) = (
        nix::sys::stat::major(md.dev()),
        nix::sys::stat::minor(md.dev()),
    );
    let want = format!("{maj:02x}:{min:02x}:{}", md.ino());
    let me = std::process::id();
    let table = std::fs::read_to_string("/proc/locks").ok()?;
    // `1: FLOCK  ADVISORY  WRITE 1234 fd:01:567 0 EOF`; a blocked waiter's line has `->`
    let pid: u32 = table.lines().find_map(|l| {
        let t: Vec<&str> = l.split_whitespace().collect();
        (t.get(1) == Some(&"FLOCK") && t.get(5) == Some(&want.as_str()))
            .then(|| t.get(4)?.parse().ok())
            .flatten()
            .filter(|p| *p != me)
    })?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    Some(format!("pid {pid} ({})", comm.trim()))
}
