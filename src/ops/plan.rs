//! `sriov-offload plan`: what vf-pre, vf-post and irq-tune would do on this host now, the
//! same lines their `--dry-run` prints, for every configured PF at once. Changes nothing.

use serde::Serialize;

use super::JSON_VERSION;
use crate::config::Config;
use crate::hostplan::plan_pfs;
use crate::irq::plan::plan as plan_tune;
use crate::observe::configured::Configured;
use crate::plan::Step;

#[derive(Serialize, Debug)]
pub struct StepView {
    /// The step's kind (the journal's `SRIOV_STEP`).
    pub kind: &'static str,
    pub text: String,
}

#[derive(Serialize, Debug)]
pub struct PfPlanView {
    pub pf: String,
    /// vf-pre's steps (before the bond enslaves the PF).
    pub pre: Vec<StepView>,
    /// vf-post's steps after vf-pre's.
    pub post: Vec<StepView>,
    /// Why no plan could be made: VFs in use, the impossible asked, the PF absent.
    pub refused: Option<String>,
}

#[derive(Serialize, Debug)]
pub struct TuneView {
    pub device: String,
    pub notes: Vec<String>,
    pub steps: Vec<StepView>,
}

/// `sriov-offload plan --json`, version [`JSON_VERSION`].
#[derive(Serialize, Debug)]
pub struct Plan {
    pub version: u32,
    /// Every PF could be planned: exit 0.
    pub complete: bool,
    pub pfs: Vec<PfPlanView>,
    pub tune: Vec<TuneView>,
    /// Why irq-tune's devices could not be read, when they could not.
    pub tune_error: Option<String>,
}

fn views(steps: &[Step]) -> Vec<StepView> {
    steps
        .iter()
        .map(|s| StepView {
            kind: s.kind(),
            text: s.to_string(),
        })
        .collect()
}

pub fn build(cfg: &Config, seen: &Configured) -> Plan {
    let mut pfs = vec![];
    for p in plan_pfs(cfg, &seen.state) {
        let name = p.state.name.to_string();
        let refused = p
            .pre
            .as_ref()
            .err()
            .or(p.post.as_ref().err())
            .map(|r| r.reason.clone());
        let (pre, post) = p
            .phases()
            .map_or((vec![], vec![]), |(a, b)| (views(&a), views(&b)));
        pfs.push(PfPlanView {
            pf: name,
            pre,
            post,
            refused,
        });
    }
    for u in &seen.unobserved {
        pfs.push(PfPlanView {
            pf: u
                .name
                .as_ref()
                .map_or_else(|| u.cfg.matcher.to_string(), |n| n.to_string()),
            pre: vec![],
            post: vec![],
            refused: Some(u.why.clone()),
        });
    }
    let tune = seen
        .state
        .irq
        .iter()
        .zip(plan_tune(&seen.state))
        .filter(|(d, _)| !d.target.settings.is_empty())
        .map(|(d, p)| TuneView {
            device: d.target.ifname.to_string(),
            notes: p.notes,
            steps: p
                .steps
                .iter()
                .map(|s| StepView {
                    kind: s.kind(),
                    text: s.to_string(),
                })
                .collect(),
        })
        .collect();
    let complete = pfs.iter().all(|p| p.refused.is_none());
    Plan {
        version: JSON_VERSION,
        complete,
        pfs,
        tune,
        tune_error: seen
            .irq_error
            .clone()
            .or_else(|| seen.irq_unread.first().map(|(n, e)| format!("{n}: {e}"))),
    }
}

impl Plan {
    pub fn text(&self) -> String {
        let mut out = String::new();
        let mut section = |title: &str, lines: Vec<String>| {
            out.push_str(title);
            out.push('\n');
            if lines.is_empty() {
                out.push_str("  nothing to do\n");
            }
            for l in lines {
                out.push_str("  ");
                out.push_str(&l);
                out.push('\n');
            }
        };
        let pick = |f: fn(&PfPlanView) -> &Vec<StepView>| -> Vec<String> {
            self.pfs
                .iter()
                .flat_map(|p| f(p).iter().map(|s| s.text.clone()))
                .collect()
        };
        section(
            "vf-pre (before the bond enslaves the PFs):",
            pick(|p| &p.pre),
        );
        section("vf-post (after enslavement):", pick(|p| &p.post));
        let tune: Vec<String> = self
            .tune
            .iter()
            .flat_map(|t| t.steps.iter().map(|s| s.text.clone()))
            .collect();
        section("irq-tune:", tune);
        for p in &self.pfs {
            if let Some(r) = &p.refused {
                out.push_str(&super::table::wrap(&format!("cannot plan {}: ", p.pf), r));
            }
        }
        if let Some(e) = &self.tune_error {
            if !self.pfs.is_empty() {
                out.push_str(&super::table::wrap("irq-tune's devices not read: ", e));
            }
        }
        out
    }
}
