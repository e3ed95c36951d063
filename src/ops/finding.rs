//! One finding of `check`: the rule, how bad, what was seen, why it matters and the fix.
//! Shared by the rule sets (`check`, `conflicts`).

use serde::Serialize;

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Offload will not work, or will break something: exit 1.
    Error,
    /// Works, but something fights it or is missing for part of it.
    Warning,
    /// Worth knowing; nothing to fix.
    Info,
    /// The rule passed.
    Ok,
}

#[derive(Serialize, Debug, Clone)]
pub struct Finding {
    /// The rule (`iommu`, `sriov-totalvfs`, …): stable, for scripts.
    pub rule: &'static str,
    pub severity: Severity,
    /// The PF, interface, file or driver it is about, if any.
    pub subject: Option<String>,
    pub seen: String,
    /// Empty for `ok`.
    pub why: String,
    pub fix: String,
}

pub(super) fn finding(
    rule: &'static str,
    severity: Severity,
    subject: Option<String>,
    seen: impl Into<String>,
    why: impl Into<String>,
    fix: impl Into<String>,
) -> Finding {
    Finding {
        rule,
        severity,
        subject,
        seen: seen.into(),
        why: why.into(),
        fix: fix.into(),
    }
}

pub(super) fn ok(rule: &'static str, subject: Option<String>, seen: impl Into<String>) -> Finding {
    finding(rule, Severity::Ok, subject, seen, "", "")
}
