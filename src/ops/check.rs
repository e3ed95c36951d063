//! `sriov-offload check`: rules over the observed state and the host facts, each returning
//! findings with a severity, what was seen, why it matters and the exact fix. This file has
//! the report and the rules about the config, the devices and the kernel (IOMMU, SR-IOV in
//! firmware, VF BAR space, drivers, eswitch); [`super::conflicts`] has the rules about other
//! software (OVS, irqbalance, NetworkManager, networkd, seed-era scripts, the target).

use std::path::PathBuf;

use serde::Serialize;

use super::finding::{finding, ok};
pub use super::finding::{Finding, Severity};
use super::table::wrap;
use super::JSON_VERSION;
use crate::config::{Config, EswitchMode};
use crate::host::system::IOMMU_GROUPS;
use crate::host::Host;
use crate::kernel::Kernel;
use crate::observe::configured::{observe_configured, Configured};
use crate::observe::system::{observe_system, SystemFacts};
use crate::select;

/// `sriov-offload check --json`, version [`JSON_VERSION`].
#[derive(Serialize, Debug)]
pub struct Report {
    pub version: u32,
    pub errors: usize,
    pub warnings: usize,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.errors
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        let oks = self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Ok)
            .count();
        out.push_str(&format!(
            "{} error(s), {} warning(s), {} check(s) passed\n",
            self.errors, self.warnings, oks
        ));
        for f in &self.findings {
            let tag = match f.severity {
                Severity::Error => "ERROR",
                Severity::Warning => "WARN",
                Severity::Info => "info",
                Severity::Ok => "ok",
            };
            let head = match &f.subject {
                Some(s) => format!("{tag:<6}{} {s}: ", f.rule),
                None => format!("{tag:<6}{}: ", f.rule),
            };
            out.push_str(&wrap(&head, &f.seen));
            if !f.why.is_empty() {
                out.push_str(&wrap("      why: ", &f.why));
            }
            if !f.fix.is_empty() {
                out.push_str(&wrap("      fix: ", &f.fix));
            }
        }
        out
    }
}

/// Loads the config, observes the host once, and runs every rule. Never fails: what cannot be
/// read is a finding.
pub fn run(host: &Host, config: &Option<PathBuf>) -> Report {
    let mut findings = vec![];
    let cfg = match super::load(host, config) {
        Ok(c) => {
            findings.push(if c.pfs.is_empty() {
                finding(
                    "config",
                    Severity::Info,
                    None,
                    "no [[pf]] is configured: every binary has nothing to do",
                    "",
                    "",
                )
            } else {
                ok(
                    "config",
                    None,
                    format!(
                        "{} PF(s), {} bond(s) from {}",
                        c.pfs.len(),
                        c.bonds.len(),
                        c.source_list()
                    ),
                )
            });
            Some(c)
        }
        Err(e) => {
            findings.push(finding(
                "config",
                Severity::Error,
                Some(e.file.display().to_string()),
                e.to_string(),
                "every binary exits 2 and changes nothing; under systemd the failed marker is \
                 written and sriov-offload.target is not reached",
                "correct the file where the message points, then run `sriov-offload check` again",
            ));
            None
        }
    };
    let empty = Config::default();
    let c = cfg.as_ref().unwrap_or(&empty);
    let mut kernel = Kernel::new(host);
    let seen =
        select::resolve(host, c).and_then(|r| observe_configured(host, &mut kernel, c, &r, false));
    let seen = match seen {
        Ok(s) => s,
        Err(e) => {
            findings.push(finding(
                "observe",
                Severity::Error,
                None,
                format!("the configured PFs could not be read: {e:#}"),
                "nothing else about the devices can be checked",
                "run as root; the message names the file",
            ));
            return report(findings);
        }
    };
    match observe_system(host, cfg.as_ref(), &seen.state) {
        Ok(sys) => {
            device_rules(&seen, &sys, &mut findings);
            super::conflicts::rules(c, cfg.is_some(), &seen, &sys, &mut findings);
        }
        Err(e) => findings.push(finding(
            "observe",
            Severity::Error,
            None,
            format!("the host facts could not be read: {e:#}"),
            "the prerequisites cannot be checked",
            "run as root; the message names the file",
        )),
    }
    report(findings)
}

fn report(mut findings: Vec<Finding>) -> Report {
    // errors first, then warnings, info, passes; each in rule order
    findings.sort_by_key(|f| f.severity);
    Report {
        version: JSON_VERSION,
        errors: findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count(),
        warnings: findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .count(),
        findings,
    }
}

fn has_word(cmdline: Option<&str>, pred: impl Fn(&str) -> bool) -> bool {
    cmdline.is_some_and(|c| c.split_whitespace().any(pred))
}

/// Config, devices and kernel.
fn device_rules(seen: &Configured, sys: &SystemFacts, out: &mut Vec<Finding>) {
    let cmdline = sys.cmdline.as_deref();
    // --- configured PFs that could not be read
    for u in &seen.unobserved {
        let subject = Some(
            u.name
                .as_ref()
                .map_or_else(|| u.cfg.matcher.to_string(), |n| n.to_string()),
        );
        if u.why.contains("does not support SR-IOV") {
            out.push(finding(
                "sriov-capability",
                Severity::Error,
                subject,
                u.why.clone(),
                "the device offers no VFs: SR-IOV is disabled in its firmware or in the BIOS",
                "enable SR-IOV in the BIOS (\"SR-IOV Support\"); on ConnectX: mlxconfig -d <PCI address> \
                 set SRIOV_EN=1 NUM_OF_VFS=<count>, then a cold reboot",
            ));
        } else {
            out.push(finding(
                "pf-present",
                Severity::Error,
                subject,
                u.why.clone(),
                "vf-pre and vf-post fail for a configured PF they cannot find, and the ready marker \
                 is never written",
                format!(
                    "correct `match` in {} (see `ip -br link`), or remove the [[pf]]",
                    u.cfg.origin
                ),
            ));
        }
    }
    // --- SR-IOV capability and sriov_totalvfs
    for (pc, s) in &seen.state.pfs {
        let subject = Some(s.name.to_string());
        let want = u32::from(pc.vfs);
        match s.totalvfs {
            Some(t) if t < want => {
                let fix = if s.driver.as_deref() == Some("mlx5_core") {
                    format!(
                        "mlxconfig -d {} set SRIOV_EN=1 NUM_OF_VFS={want}, then a cold reboot \
                         (firmware settings apply at power-on)",
                        s.dev_name
                    )
                } else {
                    format!(
                        "raise the VF count in the NIC's firmware or BIOS settings to {want}, or set \
                         vfs = {t} in {}",
                        pc.origin
                    )
                };
                out.push(finding(
                    "sriov-totalvfs",
                    Severity::Error,
                    subject,
                    format!("{} ({}) allows {t} VFs (sriov_totalvfs); the config asks for {want}", s.name, s.dev_name),
                    "vf-pre refuses to plan the PF: the kernel cannot create more VFs than the firmware offers",
                    fix,
                ));
            }
            Some(t) => out.push(ok(
                "sriov-totalvfs",
                subject,
                format!("{} allows {t} VFs; the config asks for {want}", s.dev_name),
            )),
            None => out.push(ok(
                "sriov-totalvfs",
                subject,
                format!(
                    "{} has no sriov_totalvfs (not a PCI PF): the count is checked when VFs are created",
                    s.dev_name
                ),
            )),
        }
    }
    // --- IOMMU
    let iommu_words = has_word(cmdline, |w| {
        w == "intel_iommu=on" || w.starts_with("amd_iommu") || w == "iommu=pt"
    });
    if sys.iommu_groups == 0 {
        let fix = match sys.cpu_vendor.as_deref() {
            Some("AuthenticAMD") => {
                "enable the IOMMU (AMD-Vi, \"IOMMU\" or \"SVM\") in the BIOS; add iommu=pt to \
                 GRUB_CMDLINE_LINUX in /etc/default/grub (AMD's IOMMU is on by default when the \
                 firmware enables it), run update-grub and reboot"
            }
            _ => {
                "enable VT-d in the BIOS; add intel_iommu=on iommu=pt to GRUB_CMDLINE_LINUX in \
                 /etc/default/grub, run update-grub and reboot"
            }
        };
        out.push(finding(
            "iommu",
            Severity::Error,
            None,
            format!(
                "no IOMMU groups ({IOMMU_GROUPS} is empty); the kernel command line has {}",
                if iommu_words {
                    "IOMMU options, so the firmware has it off".to_string()
                } else {
                    "none of intel_iommu=on, amd_iommu, iommu=pt".to_string()
                }
            ),
            "without an IOMMU vfio-pci cannot give a VF to a guest (libvirt's hostdev and nova's PCI \
             passthrough fail); VFs only work inside the host",
            fix,
        ));
    } else {
        out.push(ok(
            "iommu",
            None,
            format!(
                "{} IOMMU groups{}",
                sys.iommu_groups,
                if has_word(cmdline, |w| w == "iommu=pt") {
                    ", iommu=pt"
                } else {
                    ""
                }
            ),
        ));
    }
    // --- VF BAR space
    match &sys.mmio_log {
        None => out.push(finding(
            "vf-bar-space",
            Severity::Info,
            None,
            "the kernel log is not readable (kernel.dmesg_restrict): VF BAR allocation failures cannot be seen",
            "",
            "run `sriov-offload check` as root",
        )),
        Some(lines) if !lines.is_empty() => {
            let realloc = has_word(cmdline, |w| w.starts_with("pci=") && w.contains("realloc"));
            // about a configured PF: its VFs cannot be made; else another device's
            let ours = lines.iter().any(|l| {
                seen.state
                    .pfs
                    .iter()
                    .any(|(_, s)| l.contains(&s.dev_name))
            });
            out.push(finding(
                "vf-bar-space",
                if ours {
                    Severity::Error
                } else {
                    Severity::Warning
                },
                None,
                format!("the kernel log says: {}", lines.join(" | ")),
                "the BIOS left no room for the VFs' BARs: sriov_numvfs fails with ENOMEM, no VF appears",
                if realloc {
                    "pci=realloc is already set: enable \"Above 4G Decoding\" / a larger MMIO high \
                     size and \"SR-IOV Support\" in the BIOS"
                } else {
                    "add pci=realloc to GRUB_CMDLINE_LINUX in /etc/default/grub, run update-grub and \
                     reboot; if it persists, enable \"Above 4G Decoding\" in the BIOS"
                },
            ));
        }
        Some(_) => out.push(ok(
            "vf-bar-space",
            None,
            "no \"not enough MMIO resources for SR-IOV\" in the kernel log",
        )),
    }
    // --- drivers for `bind`
    for (d, st) in &sys.drivers {
        let subject = Some(d.clone());
        if st.loaded {
            out.push(ok("bind-driver", subject, format!("{d} is loaded")));
        } else {
            let (seen_, fix) = match st.available {
                Some(false) => (
                    format!("{d} is not loaded and the running kernel has no module of that name"),
                    format!("install the driver's module, or correct `bind = \"{d}\"`"),
                ),
                _ => (
                    format!("{d} is not loaded (not among the kernel's PCI drivers)"),
                    format!("modprobe {d}, and list it in /etc/modules-load.d/sriov-offload.conf so it loads at boot"),
                ),
            };
            out.push(finding(
                "bind-driver",
                Severity::Error,
                subject,
                seen_,
                "vf-post fails binding the VFs, and the ready marker is not written",
                fix,
            ));
        }
    }
    // --- devlink eswitch support
    for (pc, s) in &seen.state.pfs {
        let Some(want) = pc.eswitch else { continue };
        let subject = Some(s.name.to_string());
        match (&s.eswitch, &s.eswitch_source) {
            (Some(_), Some(src)) => out.push(ok(
                "eswitch",
                subject,
                format!(
                    "{} has an eswitch ({})",
                    s.dev_name,
                    match src {
                        crate::kernel::EswitchSource::Devlink => "devlink",
                        crate::kernel::EswitchSource::Compat => "compat/devlink/mode",
                    }
                ),
            )),
            _ => out.push(finding(
                "eswitch",
                if want == EswitchMode::Switchdev {
                    Severity::Error
                } else {
                    Severity::Warning
                },
                subject,
                format!(
                    "eswitch = \"{want}\" is configured but {} ({}) has no devlink eswitch and no compat/devlink/mode",
                    s.name, s.dev_name
                ),
                "vf-post refuses to plan the PF: the mode cannot be set",
                "use a driver with switchdev support (mlx5_core on ConnectX-5 or later, a kernel or \
                 MLNX_OFED with devlink eswitch), or remove `eswitch` from the [[pf]]",
            )),
        }
    }
}
