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
        out.push(entry.map_err(|e| file_error(e.path(), format!("cannot read: {}", e.error())))?);
    }
    out.sort();
    Ok(out)
}

/// Loads and validates the given files in order (later files win). No files: empty config.
pub fn load(files: &[PathBuf]) -> Result<Config, ConfigError> {
    let mut b = Builder::default();
    for path in files {
        let text = std::fs::read_to_string(path)
            .map_err(|e| file_error(path, format!("cannot read: {e}")))?;
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
