//! systemd's network configuration as udev and networkd read it.
//!
//! - [`Host::network_config_files`]: the effective `.link` / `.network` / `.netdev` files of
//!   systemd.link(5) and systemd.network(5): `/etc`, `/run`, `/usr/local/lib`, `/usr/lib` and
//!   (split-/usr systems) `/lib` `systemd/network/`, where a name in an earlier directory hides
//!   the same name in later ones, an empty file or a symlink to /dev/null masks the name, and
//!   `NAME.d/*.conf` drop-ins from any of the directories follow the main file in the order of
//!   their names.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::Host;

/// The directories systemd searches for network configuration, highest priority first.
const NETWORK_DIRS: [&str; 5] = [
    "etc/systemd/network",
    "run/systemd/network",
    "usr/local/lib/systemd/network",
    "usr/lib/systemd/network",
    "lib/systemd/network",
];

/// One effective configuration file: the main file and its drop-ins, each with its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkFile {
    /// Main file first, then the drop-ins in the order systemd applies them.
    pub parts: Vec<(PathBuf, String)>,
}

impl NetworkFile {
    pub fn path(&self) -> &Path {
        &self.parts[0].0
    }
}

impl Host {
    /// Whether `path` masks its name: a symlink to /dev/null or an empty file. A name that
    /// cannot be read is not masked (reading it then reports the error).
    fn masked(&self, path: &Path) -> bool {
        if fs::read_link(path).is_ok_and(|t| t == Path::new("/dev/null")) {
            return true;
        }
        fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0)
    }

    /// `name` → the path that wins among the search directories (`sub` below each), masked
    /// names included (so they hide lower ones), for entries ending in `ext` that are files.
    fn effective(&self, sub: &str, ext: &str) -> Result<Vec<(String, PathBuf)>> {
        let mut out: Vec<(String, PathBuf)> = vec![];
        for d in NETWORK_DIRS {
            let dir = self.root.join(d).join(sub);
            for name in self.list(&dir)? {
                if !name.ends_with(ext) || out.iter().any(|(n, _)| *n == name) {
                    continue;
                }
                let p = dir.join(&name);
                if p.is_file() || self.masked(&p) {
                    out.push((name, p));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// The effective `*.EXT` files (`"link"`, `"network"`, `"netdev"`) with their drop-ins,
    /// sorted by name (the order udev and networkd try them in).
    pub fn network_config_files(&self, ext: &str) -> Result<Vec<NetworkFile>> {
        let mut files = vec![];
        for (name, path) in self.effective("", &format!(".{ext}"))? {
            if self.masked(&path) {
                continue;
            }
            let mut parts = vec![(path.clone(), self.read_text(&path)?)];
            for (_, conf) in self.effective(&format!("{name}.d"), ".conf")? {
                if !self.masked(&conf) {
                    parts.push((conf.clone(), self.read_text(&conf)?));
                }
            }
            files.push(NetworkFile { parts });
        }
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn put(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    #[test]
    fn etc_hides_lib_masks_hide_and_drop_ins_follow_in_name_order() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        put(r, "usr/lib/systemd/network/99-default.link", "[Link]\n");
        put(r, "usr/lib/systemd/network/10-a.link", "lib a\n");
        put(r, "etc/systemd/network/10-a.link", "etc a\n");
        put(r, "run/systemd/network/20-b.link", "run b\n");
        put(r, "usr/lib/systemd/network/30-masked.link", "lib c\n");
        fs::create_dir_all(r.join("etc/systemd/network")).unwrap();
        symlink("/dev/null", r.join("etc/systemd/network/30-masked.link")).unwrap();
        put(r, "run/systemd/network/40-empty.link", "");
        put(
            r,
            "usr/lib/systemd/network/10-a.link.d/50-y.conf",
            "lib y\n",
        );
        put(r, "etc/systemd/network/10-a.link.d/20-x.conf", "etc x\n");
        put(r, "run/systemd/network/10-a.link.d/50-y.conf", "run y\n");
        put(
            r,
            "etc/systemd/network/10-a.link.d/60-z.txt",
            "not a drop-in\n",
        );
        put(r, "etc/systemd/network/bond0.netdev", "[NetDev]\n");
        let h = Host::new(r.to_path_buf());
        let files = h.network_config_files("link").unwrap();
        let shown: Vec<Vec<(String, String)>> = files
            .iter()
            .map(|f| {
                f.parts
                    .iter()
                    .map(|(p, t)| {
                        (
                            p.strip_prefix(r).unwrap().display().to_string(),
                            t.trim().to_string(),
                        )
                    })
                    .collect()
            })
            .collect();
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            shown,
            vec![
                vec![
                    s("etc/systemd/network/10-a.link", "etc a"),
                    s("etc/systemd/network/10-a.link.d/20-x.conf", "etc x"),
                    s("run/systemd/network/10-a.link.d/50-y.conf", "run y"),
                ],
                vec![s("run/systemd/network/20-b.link", "run b")],
                vec![s("usr/lib/systemd/network/99-default.link", "[Link]")],
            ]
        );
        assert_eq!(h.network_config_files("netdev").unwrap().len(), 1);
    }
}
