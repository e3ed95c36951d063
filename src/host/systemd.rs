//! systemd's network configuration as udev and networkd read it, and our switch for the udev rule
//! that keeps networkd and NetworkManager off VF netdevs and representors.
//!
//! - [`Host::network_config_files`]: the effective `.link` / `.network` / `.netdev` files of
//!   systemd.link(5) and systemd.network(5): `/etc`, `/run`, `/usr/local/lib`, `/usr/lib` and
//!   (split-/usr systems) `/lib` `systemd/network/`, where a name in an earlier directory hides
//!   the same name in later ones, an empty file or a symlink to /dev/null masks the name, and
//!   `NAME.d/*.conf` drop-ins from any of the directories follow the main file in the order of
//!   their names.
//! - [`Host::set_vfs_unmanaged`]: `/run/sriov-offload/vfs-unmanaged`, which
//!   `udev-rules/81-sriov-offload-unmanaged.rules` tests before it marks a netdev unmanaged.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

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

/// The file the udev rule tests; present while `[boot] unmanage_vfs` is on.
const UNMANAGED_FLAG: &str = "sriov-offload/vfs-unmanaged";

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

    pub fn vfs_unmanaged_file(&self) -> PathBuf {
        self.run(UNMANAGED_FLAG)
    }

    /// Makes `/run/sriov-offload/vfs-unmanaged` exist exactly when `on`. True when it
    /// changed something (a rerun with the same config writes nothing).
    pub fn set_vfs_unmanaged(&self, on: bool) -> Result<bool> {
        let p = self.vfs_unmanaged_file();
        if !on {
            return self.remove(&p);
        }
        match fs::symlink_metadata(&p) {
            Ok(_) => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.write_atomic(
                    &p,
                    b"# [boot] unmanage_vfs = true: 81-sriov-offload-unmanaged.rules marks VF netdevs\n\
                      # and representors unmanaged for systemd-networkd and NetworkManager\n",
                )?;
                Ok(true)
            }
            Err(e) => Err(e).with_context(|| format!("checking {}", p.display())),
        }
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

    #[test]
    fn unmanaged_flag_is_written_once_and_removed() {
        let d = tempfile::tempdir().unwrap();
        let h = Host::new(d.path().to_path_buf());
        assert!(h.set_vfs_unmanaged(true).unwrap());
        assert!(!h.set_vfs_unmanaged(true).unwrap());
        assert!(h.exists(&d.path().join("run/sriov-offload/vfs-unmanaged")));
        assert!(h.set_vfs_unmanaged(false).unwrap());
        assert!(!h.set_vfs_unmanaged(false).unwrap());
        assert_eq!(h.writes(), 2);
    }
}
