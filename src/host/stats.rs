//! The record of the boot binaries' runs since boot (`/run/sriov-offload/runs.json`, on tmpfs:
//! it starts empty at every boot) and the metrics textfile for node_exporter's textfile
//! collector. The record is changed under an `flock` of `lock/.runs`, so runs that finish
//! together (a udev-started irq-tune per VF) all count.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::fcntl::{Flock, FlockArg};

use super::Host;

impl Host {
    fn runs_path(&self) -> PathBuf {
        self.run_dir().path().join("runs.json")
    }

    /// The run record as written; `None` before the first run of this boot.
    pub fn read_runs(&self) -> Result<Option<String>> {
        self.read_opt(&self.runs_path())
    }

    /// Replaces the run record with `f(current)`, atomically and under the record's lock.
    pub fn update_runs(&self, f: impl FnOnce(Option<&str>) -> Result<Vec<u8>>) -> Result<()> {
        self.run_dir().create()?;
        let (file, lock) = self.run_dir().lock_file(".runs")?;
        let _held = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| e)
            .with_context(|| format!("locking {}", lock.display()))?;
        let cur = self.read_runs()?;
        let new = f(cur.as_deref())?;
        self.write_atomic(&self.runs_path(), &new)
    }

    /// Writes `DIR/NAME` for node_exporter's textfile collector: a temp file renamed into
    /// place, so the collector never reads half a file. `dir` is a path of the host (from the
    /// config or the command line) and must exist.
    pub fn write_textfile(&self, dir: &Path, name: &str, contents: &[u8]) -> Result<PathBuf> {
        let d = self.abs(dir);
        if !d.is_dir() {
            bail!(
                "metrics textfile directory {} does not exist (node_exporter's --collector.textfile.directory)",
                dir.display()
            );
        }
        let p = d.join(name);
        self.write_atomic(&p, contents)?;
        Ok(dir.join(name))
    }
}
