//! The config files under a root: discovery of the main file and its drop-ins, and loading
//! them in order.

use std::path::{Path, PathBuf};

use super::build::Builder;
use super::error::{file_error, ConfigError, Source};
use super::model::Config;

/// Where the config lives under a root (`/etc/sriov-offload`): the main file and its drop-ins.
pub fn default_files(etc_dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let main = etc_dir.join("config.toml");
    let mut files = vec![];
    if main.exists() {
        files.push(main);
    }
    files.extend(drop_ins(etc_dir)?);
    Ok(files)
}

/// `conf.d/*.toml` next to the main file, sorted by name.
pub fn drop_ins(etc_dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let dir = etc_dir.join("conf.d");
    let pattern = dir.join("*.toml");
    let pattern = pattern
        .to_str()
        .ok_or_else(|| file_error(&dir, "path is not valid UTF-8"))?;
    let pattern = glob::Pattern::escape(pattern.trim_end_matches("*.toml")) + "*.toml";
    let mut out = vec![];
    for entry in glob::glob(&pattern).map_err(|e| file_error(&dir, e.to_string()))? {
        let path =
            entry.map_err(|e| file_error(e.path(), format!("cannot read: {}", e.error())))?;
        // dotfiles: editors' locks and swap files (`.#x.toml`), hidden leftovers; `*.toml~`
        // and `*.dpkg-old` never match the pattern
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            continue;
        }
        out.push(path);
    }
    out.sort();
    Ok(out)
}

/// The largest config file we read: a real one is a few KiB.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Reads one config file the way sudo and OpenSSH read theirs: it must be a regular file
/// (a FIFO would hang boot), writable by nobody but its owner, owned by root when we run as
/// root (whoever can write it decides what root does at boot), and at most 1 MiB.
pub fn read_file(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    // Not a regular file (a FIFO would block the open, a socket refuses it with ENXIO): said
    // before opening. The check after opening (O_NONBLOCK) holds if it was swapped meanwhile.
    let md = std::fs::metadata(path).map_err(|e| file_error(path, format!("cannot read: {e}")))?;
    if !md.file_type().is_file() {
        return Err(not_regular(path, &md));
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(|e| file_error(path, format!("cannot read: {e}")))?;
    let md = f
        .metadata()
        .map_err(|e| file_error(path, format!("cannot read: {e}")))?;
    let p = path.display();
    if !md.file_type().is_file() {
        return Err(not_regular(path, &md));
    }
    if md.mode() & 0o022 != 0 {
        return Err(file_error(
            path,
            format!(
                "writable by group or others (mode {:04o}): anyone who can write it decides what root does at boot; fix: chmod go-w {p}",
                md.mode() & 0o7777
            ),
        ));
    }
    if nix::unistd::geteuid().is_root() && md.uid() != 0 {
        return Err(file_error(
            path,
            format!(
                "not owned by root (owner uid {}): anyone who can write it decides what root does at boot; fix: chown root:root {p}",
                md.uid()
            ),
        ));
    }
    if md.len() > MAX_FILE_BYTES {
        return Err(file_error(
            path,
            format!(
                "{} bytes, larger than the {} KiB a config file may have",
                md.len(),
                MAX_FILE_BYTES / 1024
            ),
        ));
    }
    let mut text = String::new();
    f.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| file_error(path, format!("cannot read: {e}")))?;
    Ok(text)
}

fn not_regular(path: &Path, md: &std::fs::Metadata) -> ConfigError {
    use std::os::unix::fs::MetadataExt;
    let what = match md.mode() & 0o170000 {
        0o010000 => "a FIFO",
        0o040000 => "a directory",
        0o140000 => "a socket",
        _ => "a device",
    };
    file_error(
        path,
        format!("not a regular file ({what}); config files must be regular files"),
    )
}

/// Loads and validates the given files in order (later files win). No files: empty config.
pub fn load(files: &[PathBuf]) -> Result<Config, ConfigError> {
    let mut b = Builder::default();
    for path in files {
        let text = read_file(path)?;
        b.add(&Source { path, text: &text })?;
    }
    b.finish(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Bind;

    #[test]
    fn drop_in_overrides_single_keys() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("config.toml");
        std::fs::write(
            &main,
            "[[pf]]\nmatch = { name = \"p0\" }\nvfs = 4\nbind = \"igbvf\"\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("conf.d")).unwrap();
        std::fs::write(
            dir.path().join("conf.d/50-more.toml"),
            "[[pf]]\nmatch = { name = \"p0\" }\nvfs = 7\n",
        )
        .unwrap();
        let files = default_files(dir.path()).unwrap();
        assert_eq!(files.len(), 2);
        let c = load(&files).unwrap();
        assert_eq!(c.pfs.len(), 1);
        assert_eq!(c.pfs[0].vfs, 7);
        assert_eq!(c.pfs[0].bind, Some(Bind::Driver("igbvf".into())));
    }
}
