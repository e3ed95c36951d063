//! What the systemd generator touches: the kernel log (`/dev/kmsg`, where errors go before the
//! journal runs) and the output directory systemd hands it (`/run/systemd/generator`).

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};

use super::{safe, Host};

impl Host {
    /// `/dev/kmsg` under the root, for appending; `None` when it cannot be opened (tests, a
    /// container): the caller falls back to stderr.
    pub fn kmsg(&self) -> Option<File> {
        std::fs::OpenOptions::new()
            .append(true)
            .open(self.root().join("dev/kmsg"))
            .ok()
    }

    /// Writes generated unit files under `dir` (systemd's generator output directory, given on
    /// the command line, so not under the root): directories 0755, files 0644 whatever the
    /// umask.
    pub fn write_generated<'a>(
        &self,
        dir: &Path,
        files: impl IntoIterator<Item = (&'a Path, String)>,
    ) -> Result<()> {
        for (rel, text) in files {
            let path = dir.join(rel);
            if let Some(parent) = path.parent() {
                safe::create_dir_all(parent)?;
            }
            let mut f =
                File::create(&path).with_context(|| format!("writing {}", path.display()))?;
            f.set_permissions(std::fs::Permissions::from_mode(safe::FILE_MODE))
                .and_then(|()| f.write_all(text.as_bytes()))
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }
}
