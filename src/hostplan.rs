//! The plan of a whole observed host, for the readers over one [`HostState`] (the operator
//! tool's status and plan, the metrics): per PF what vf-pre and vf-post would do now, and
//! what they would do if nothing were in use (the differences a refusal hides). Pure.
//! irq-tune's devices are planned by `irq::plan::plan`; this module does not import
//! `irq`, whose binary code records runs through `metrics`, which reads this one.

use crate::config::{BondConfig, Config, PfConfig};
use crate::observe::{HostState, PfState};
use crate::plan::{plan_pf, Input, Phase, Refusal, Step};
use crate::types::IfName;

/// The bond a PF is a configured slave of, with the PF's position in its `slaves`.
pub fn bond_ctx<'c>(cfg: &'c Config, pf: &IfName) -> Option<(&'c BondConfig, usize)> {
    let b = cfg.bond_of(pf.as_str())?;
    let idx = b.slaves.iter().position(|s| s == pf)?;
    Some((b, idx))
}

pub struct PfPlan<'s> {
    pub cfg: &'s PfConfig,
    pub state: &'s PfState,
    /// What vf-pre would do now (a prefix of `post`'s steps when both are plans).
    pub pre: Result<Vec<Step>, Refusal>,
    /// What vf-post would do now: everything.
    pub post: Result<Vec<Step>, Refusal>,
    /// vf-post's plan with `--force`: every difference, in use or not. Still a refusal when
    /// the config asks for the impossible (more VFs than the device has, no eswitch).
    pub forced: Result<Vec<Step>, Refusal>,
}

impl PfPlan<'_> {
    /// The host matches the config for this PF.
    pub fn matches(&self) -> bool {
        matches!(&self.forced, Ok(s) if s.is_empty())
    }

    /// vf-pre's steps and then the rest of vf-post's, when both could be planned. vf-post's
    /// plan holds vf-pre's steps, not always first (it waits for the bond's slaves before
    /// anything else on a networkd host).
    pub fn phases(&self) -> Option<(Vec<Step>, Vec<Step>)> {
        let (Ok(pre), Ok(post)) = (&self.pre, &self.post) else {
            return None;
        };
        let rest = post.iter().filter(|s| !pre.contains(s)).cloned().collect();
        Some((pre.clone(), rest))
    }
}

/// Every observed PF's plans, in the state's order.
pub fn plan_pfs<'s>(cfg: &Config, state: &'s HostState) -> Vec<PfPlan<'s>> {
    state
        .pfs
        .iter()
        .map(|(pc, s)| {
            let inp = Input {
                cfg: pc,
                state: s,
                bond: bond_ctx(cfg, &s.name),
                await_bond: true,
            };
            PfPlan {
                cfg: pc,
                state: s,
                pre: plan_pf(&inp, &state.facts, Phase::Pre, false),
                post: plan_pf(&inp, &state.facts, Phase::Post, false),
                forced: plan_pf(&inp, &state.facts, Phase::Post, true),
            }
        })
        .collect()
}
