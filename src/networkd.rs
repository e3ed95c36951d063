//! systemd `.link` files that create SR-IOV VFs on a PF this suite manages
//! (`SR-IOVVirtualFunctions=` in `[Link]`, or `[SR-IOV]` sections, systemd 250+). udev applies
//! them when the PF appears, vf-pre sets the VF count too: two owners of one count race at every
//! boot (EBUSY, VFs destroyed under a guest). Detected and reported, not fought: the run fails
//! naming the `.link` file and the config entry.
//!
//! Whether a `.link` file applies to a PF is decided from its `[Match]` keys, all of which must
//! match (systemd.link(5)); a file without any matches every interface. Evaluated here:
//! `OriginalName=` (globs, against the PF's current name: a PF udev renamed had another kernel
//! name, which is not kept anywhere we read), `MACAddress=` (the current address),
//! `Path=` (globs, against `pci-<PCI address>`, the `ID_PATH` of a PCI function on the root
//! complex; a PF that is not a PCI function matches no `Path=`) and `Driver=`, each with a
//! leading `!` inverting it. A file with any other match key (`Property=`, `Host=`,
//! `PermanentMACAddress=`, `Type=`, …) is not decided here: it is reported as a warning, not a
//! conflict. Which `.link` file is the first to match (the only one udev applies) is not
//! decided either: a matching file with SR-IOV settings is a conflict even when an earlier
//! file would shadow it.

use std::path::{Path, PathBuf};

use crate::host::systemd::NetworkFile;

/// The match keys of one `.link` file and where its SR-IOV settings are.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LinkFile {
    pub path: PathBuf,
    /// (file, what): the first SR-IOV setting found, in the main file or a drop-in.
    pub sriov: Option<(PathBuf, String)>,
    original_name: Option<Vec<String>>,
    mac: Option<Vec<String>>,
    path_glob: Option<Vec<String>>,
    driver: Option<Vec<String>>,
    /// Match keys given that are not evaluated here.
    pub unchecked: Vec<String>,
}

/// A match key, its list, the PF's value and how one list entry is compared with it.
type Check<'a> = (
    &'a str,
    &'a Option<Vec<String>>,
    Option<&'a str>,
    fn(&str, &str) -> bool,
);

/// What a `.link` match is decided on, for one PF.
#[derive(Debug, Clone, Copy)]
pub struct PfFacts<'a> {
    pub name: &'a str,
    pub mac: Option<&'a str>,
    /// The PCI address, when the PF is a PCI function.
    pub pci: Option<&'a str>,
    pub driver: Option<&'a str>,
}

/// How a `.link` file stands to one PF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    NoMatch,
    /// Matches; the keys it matched by (empty: a file that matches every interface).
    Match(Vec<String>),
    /// Every evaluated key matches, but these keys were not evaluated.
    Undecided(Vec<String>),
}

/// Logical lines of a systemd unit-style file: comments dropped, `\` continuations joined.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if cur.is_empty() && (line.starts_with('#') || line.starts_with(';')) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
            continue;
        }
        cur.push_str(line);
        out.push(std::mem::take(&mut cur));
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Whitespace-separated list values; an empty assignment resets the list (systemd.link(5)).
fn assign(list: &mut Option<Vec<String>>, value: &str) {
    if value.is_empty() {
        *list = None;
        return;
    }
    list.get_or_insert_with(Vec::new).extend(
        value
            .split_whitespace()
            .map(|v| v.trim_matches('"').to_string()),
    );
}

/// Parses a `.link` file with its drop-ins.
pub fn parse_link(file: &NetworkFile) -> LinkFile {
    let mut l = LinkFile {
        path: file.path().to_path_buf(),
        ..LinkFile::default()
    };
    for (part, text) in &file.parts {
        let mut section = String::new();
        for line in logical_lines(text) {
            if let Some(s) = line.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                section = s.trim().to_string();
                if section == "SR-IOV" && l.sriov.is_none() {
                    l.sriov = Some((part.clone(), "an [SR-IOV] section".into()));
                }
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let (k, v) = (k.trim(), v.trim());
            match (section.as_str(), k) {
                ("Link", "SR-IOVVirtualFunctions") if !v.is_empty() && l.sriov.is_none() => {
                    l.sriov = Some((part.clone(), format!("SR-IOVVirtualFunctions={v}")));
                }
                ("Match", "OriginalName") => assign(&mut l.original_name, v),
                ("Match", "MACAddress") => assign(&mut l.mac, v),
                ("Match", "Path") => assign(&mut l.path_glob, v),
                ("Match", "Driver") => assign(&mut l.driver, v),
                ("Match", other) if !l.unchecked.iter().any(|u| u == other) => {
                    l.unchecked.push(other.to_string());
                }
                _ => {}
            }
        }
    }
    l
}

fn glob_match(pattern: &str, s: &str) -> bool {
    match glob::Pattern::new(pattern) {
        Ok(p) => p.matches(s),
        Err(_) => pattern == s,
    }
}

/// A glob list with systemd's optional leading `!` (inverts the whole list).
fn list_matches(list: &[String], value: Option<&str>, eq: impl Fn(&str, &str) -> bool) -> bool {
    let (invert, list): (bool, Vec<&str>) = match list.first() {
        Some(f) if f.starts_with('!') => (
            true,
            std::iter::once(&f[1..])
                .chain(list[1..].iter().map(String::as_str))
                .filter(|s| !s.is_empty())
                .collect(),
        ),
        _ => (false, list.iter().map(String::as_str).collect()),
    };
    let hit = value.is_some_and(|v| list.iter().any(|p| eq(p, v)));
    hit != invert
}

/// `52:54:00:12:34:10`, `52-54-00-12-34-10` and `5254.0012.3410` are one address.
fn mac_eq(a: &str, b: &str) -> bool {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| !matches!(c, ':' | '-' | '.'))
            .flat_map(char::to_lowercase)
            .collect()
    };
    norm(a) == norm(b)
}

impl LinkFile {
    pub fn verdict(&self, pf: &PfFacts) -> Verdict {
        let mut by = vec![];
        let id_path = pf.pci.map(|p| format!("pci-{p}"));
        let checks: [Check; 4] = [
            (
                "OriginalName",
                &self.original_name,
                Some(pf.name),
                glob_match,
            ),
            ("MACAddress", &self.mac, pf.mac, mac_eq),
            ("Path", &self.path_glob, id_path.as_deref(), glob_match),
            ("Driver", &self.driver, pf.driver, glob_match),
        ];
        for (key, list, value, eq) in checks {
            let Some(list) = list else { continue };
            if !list_matches(list, value, eq) {
                return Verdict::NoMatch;
            }
            by.push(format!("{key}={}", list.join(" ")));
        }
        if self.unchecked.is_empty() {
            Verdict::Match(by)
        } else {
            Verdict::Undecided(self.unchecked.iter().map(|k| format!("{k}=")).collect())
        }
    }
}

/// What [`check`] found for the PFs of a run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Findings {
    /// One message per (PF, .link file) that conflict: the run must fail.
    pub conflicts: Vec<String>,
    /// `.link` files with SR-IOV settings that may apply to a PF (keys not evaluated).
    pub warnings: Vec<String>,
}

/// The configured PFs against the `.link` files: `pfs` are (facts, origin of the `[[pf]]` in
/// the config).
pub fn check(files: &[LinkFile], pfs: &[(PfFacts, &str)]) -> Findings {
    let mut f = Findings::default();
    for l in files {
        let Some((where_, what)) = &l.sriov else {
            continue;
        };
        for (pf, origin) in pfs {
            let shown = |p: &Path| p.display().to_string();
            let at = if where_ == &l.path {
                shown(where_)
            } else {
                format!("{} (drop-in of {})", shown(where_), shown(&l.path))
            };
            match l.verdict(pf) {
                Verdict::NoMatch => {}
                Verdict::Match(by) => f.conflicts.push(format!(
                    "{}: {at} has {what} and applies to it ({}), and {origin} configures its VFs: \
                     udev would set the VF count as the PF appears, while vf-pre sets it too. \
                     Remove the SR-IOV settings from the .link file, or the [[pf]] from the config",
                    pf.name,
                    if by.is_empty() {
                        "its [Match] matches every interface".to_string()
                    } else {
                        format!("[Match] {}", by.join(", "))
                    }
                )),
                Verdict::Undecided(keys) => f.warnings.push(format!(
                    "{}: {at} has {what} and may apply to it (not checked here: {}); if it does, \
                     it and {origin} both set the VF count",
                    pf.name,
                    keys.join(", ")
                )),
            }
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(text: &str) -> LinkFile {
        parse_link(&NetworkFile {
            parts: vec![(PathBuf::from("/etc/systemd/network/10-x.link"), text.into())],
        })
    }

    const PF: PfFacts = PfFacts {
        name: "ens1f0",
        mac: Some("b8:59:9f:00:00:10"),
        pci: Some("0000:3b:00.0"),
        driver: Some("mlx5_core"),
    };

    #[test]
    fn sriov_settings_are_found_in_link_and_sriov_sections() {
        let l = link("[Match]\nOriginalName=ens1f0\n[Link]\nSR-IOVVirtualFunctions=8\n");
        assert_eq!(l.sriov.unwrap().1, "SR-IOVVirtualFunctions=8");
        let l = link("[Match]\nOriginalName=ens1f0\n\n[SR-IOV]\nVirtualFunction=0\nTrust=yes\n");
        assert_eq!(l.sriov.unwrap().1, "an [SR-IOV] section");
        let l =
            link("[Match]\nOriginalName=ens1f0\n[Link]\nName=up0\n# SR-IOVVirtualFunctions=8\n");
        assert_eq!(l.sriov, None);
    }

    #[test]
    fn match_keys_are_anded_globbed_and_inverted() {
        let v = |t: &str| link(t).verdict(&PF);
        assert_eq!(
            v("[Match]\nOriginalName=ens1f*\n"),
            Verdict::Match(vec!["OriginalName=ens1f*".into()])
        );
        assert_eq!(v("[Match]\nOriginalName=ens2f*\n"), Verdict::NoMatch);
        assert_eq!(
            v("[Match]\nMACAddress=B8-59-9F-00-00-10 02:00:00:00:00:01\n"),
            Verdict::Match(vec!["MACAddress=B8-59-9F-00-00-10 02:00:00:00:00:01".into()])
        );
        assert_eq!(
            v("[Match]\nMACAddress=b859.9f00.0010\nDriver=mlx4_en\n"),
            Verdict::NoMatch
        );
        assert_eq!(
            v("[Match]\nPath=pci-0000:3b:00.*\nDriver=!ixgbe\n"),
            Verdict::Match(vec!["Path=pci-0000:3b:00.*".into(), "Driver=!ixgbe".into()])
        );
        assert_eq!(v("[Match]\nDriver=!mlx5_core\n"), Verdict::NoMatch);
        // an empty assignment resets the list: this file matches everything again
        assert_eq!(
            v("[Match]\nOriginalName=eth9\nOriginalName=\n"),
            Verdict::Match(vec![])
        );
        assert_eq!(v(""), Verdict::Match(vec![]));
        assert_eq!(
            v("[Match]\nOriginalName=ens1f0\nProperty=ID_VENDOR_ID=0x15b3\n"),
            Verdict::Undecided(vec!["Property=".into()])
        );
        // an evaluated key that fails decides even with unevaluated ones
        assert_eq!(
            v("[Match]\nOriginalName=eth9\nHost=hv-07\n"),
            Verdict::NoMatch
        );
        // a netdevsim PF is not a PCI function: no Path= matches it
        let nsim = PfFacts { pci: None, ..PF };
        assert_eq!(link("[Match]\nPath=*\n").verdict(&nsim), Verdict::NoMatch);
    }

    #[test]
    fn a_conflict_names_both_files_and_a_drop_in_is_named_as_such() {
        let main = PathBuf::from("/etc/systemd/network/10-x.link");
        let drop = PathBuf::from("/run/systemd/network/10-x.link.d/sriov.conf");
        let l = parse_link(&NetworkFile {
            parts: vec![
                (main, "[Match]\nMACAddress=b8:59:9f:00:00:10\n".into()),
                (drop, "[Link]\nSR-IOVVirtualFunctions=4\n".into()),
            ],
        });
        let f = check(&[l], &[(PF, "/etc/sriov-offload/config.toml:3")]);
        assert_eq!(f.warnings, Vec::<String>::new());
        assert_eq!(f.conflicts.len(), 1);
        let c = &f.conflicts[0];
        for needle in [
            "ens1f0: /run/systemd/network/10-x.link.d/sriov.conf (drop-in of /etc/systemd/network/10-x.link)",
            "SR-IOVVirtualFunctions=4",
            "[Match] MACAddress=b8:59:9f:00:00:10",
            "/etc/sriov-offload/config.toml:3 configures its VFs",
        ] {
            assert!(c.contains(needle), "{needle:?} not in {c}");
        }
    }

    #[test]
    fn files_without_sriov_or_for_other_pfs_are_fine() {
        let files = [
            link("[Match]\nOriginalName=*\n[Link]\nNamePolicy=keep kernel path\n"),
            link("[Match]\nOriginalName=ens2f0\n[Link]\nSR-IOVVirtualFunctions=8\n"),
        ];
        assert_eq!(check(&files, &[(PF, "c:1")]), Findings::default());
    }
}
