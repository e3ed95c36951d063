//! The planner's IB steps on hand-made states: a standalone PF's policy and GUIDs, the
//! rebinding of VFs whose GUIDs change, refusals.

use super::tests::{pfc, pfs};
use super::*;
use crate::config::{IbPolicy, PfIb, PfMatch};
use crate::observe::ib::IbFacts;
use crate::observe::GuidVia;
use std::collections::BTreeMap;

fn guid(s: &str) -> Guid {
    s.parse().unwrap()
}

/// `p0` with 2 VFs in legacy mode (no eswitch, no offload), `ib` with explicit GUIDs and Follow.
fn ib_pf(bind: Option<Bind>) -> PfConfig {
    let mut c = pfc(2);
    c.eswitch = None;
    c.hw_tc_offload = false;
    c.bind = bind;
    c.ib = Some(PfIb {
        device: None,
        node_guids: Some(GuidScheme::Explicit(BTreeMap::from([
            (0, guid("11:11:11:11:11:11:09:00")),
            (1, guid("11:11:11:11:11:11:09:10")),
        ]))),
        port_guids: None,
        policy: Some(IbPolicy::Follow),
        auto_index: 0x80,
    });
    c
}

/// Facts where VF 0 has the wanted node GUID and policy, and VF 1 neither.
fn facts(s: &PfState) -> Facts {
    let mut f = Facts {
        hostname: Some("c09".into()),
        ..Facts::default()
    };
    f.guids.insert(
        (s.name.clone(), 0, GuidKind::Node),
        guid("11:11:11:11:11:11:09:00"),
    );
    f.guids.insert(
        (s.name.clone(), 1, GuidKind::Node),
        guid("00:00:00:00:00:00:00:00"),
    );
    f.guid_via.insert(s.name.clone(), GuidVia::Sysfs);
    f.ib.insert(
        s.name.clone(),
        IbFacts {
            policy_via: Some(GuidVia::Sysfs),
            policy: BTreeMap::from([(0, IbPolicy::Follow), (1, IbPolicy::Down)]),
        },
    );
    f
}

fn plan(c: &PfConfig, s: &PfState, f: &Facts, force: bool) -> Result<Vec<String>, Refusal> {
    let inp = Input {
        cfg: c,
        state: s,
        bond: None,
        await_bond: true,
    };
    Ok(plan_pf(&inp, f, Phase::Post, force)?
        .iter()
        .map(|s| s.to_string())
        .collect())
}

#[test]
fn only_the_vf_that_differs_is_written_and_rebound_to_the_driver_it_had() {
    let s = pfs(2, EswitchMode::Legacy, Some("mlx5_core"), false);
    assert_eq!(
        plan(&ib_pf(None), &s, &facts(&s), false).unwrap(),
        [
            "p0: set VF 1 IB port policy Follow",
            "p0: set VF 1 node GUID 11:11:11:11:11:11:09:10",
            "p0: unbind VF 1 from mlx5_core",
            "p0: bind VFs 1 to mlx5_core",
        ]
    );
}

#[test]
fn with_bind_the_rebound_vf_joins_binds_own_step() {
    let s = pfs(2, EswitchMode::Legacy, Some("mlx5_core"), false);
    let c = ib_pf(Some(Bind::Driver("mlx5_core".into())));
    let steps = plan(&c, &s, &facts(&s), false).unwrap();
    assert_eq!(
        steps[2..],
        [
            "p0: unbind VF 1 from mlx5_core",
            "p0: bind VFs 1 to mlx5_core"
        ]
    );
}

#[test]
fn a_policy_alone_rebinds_nothing() {
    let s = pfs(2, EswitchMode::Legacy, Some("mlx5_core"), false);
    let mut c = ib_pf(None);
    c.ib.as_mut().unwrap().node_guids = None;
    assert_eq!(
        plan(&c, &s, &facts(&s), false).unwrap(),
        ["p0: set VF 1 IB port policy Follow"]
    );
}

#[test]
fn a_vf_a_guest_holds_is_refused_and_force_rebinds_it() {
    let s = pfs(2, EswitchMode::Legacy, Some("vfio-pci"), false);
    let e = plan(&ib_pf(None), &s, &facts(&s), false).unwrap_err();
    assert!(
        e.reason
            .contains("the IB GUIDs of VF 1 differ and the VF must be rebound")
            && e.reason.contains("vfio-pci"),
        "{e}"
    );
    let steps = plan(&ib_pf(None), &s, &facts(&s), true).unwrap();
    assert_eq!(steps.last().unwrap(), "p0: bind VFs 1 to vfio-pci");
}

#[test]
fn new_vfs_autoprobed_by_this_run_are_rebound_after_their_guids() {
    let s = pfs(0, EswitchMode::Legacy, None, false);
    let mut f = facts(&s);
    f.guid_via.insert(s.name.clone(), GuidVia::NoVfsYet);
    assert_eq!(
        plan(&ib_pf(None), &s, &f, false).unwrap(),
        [
            "p0: set sriov_numvfs to 2",
            "p0: set VF 0 IB port policy Follow",
            "p0: set VF 0 node GUID 11:11:11:11:11:11:09:00",
            "p0: set VF 1 IB port policy Follow",
            "p0: set VF 1 node GUID 11:11:11:11:11:11:09:10",
            "p0: unbind VF 0 from mlx5_core",
            "p0: unbind VF 1 from mlx5_core",
            "p0: bind VFs 0-1 to mlx5_core",
        ]
    );
}

#[test]
fn a_missing_interface_is_refused_before_anything() {
    let s = pfs(2, EswitchMode::Legacy, Some("mlx5_core"), false);
    let mut f = facts(&s);
    f.guid_via
        .insert(s.name.clone(), GuidVia::Missing("no GUID files".into()));
    assert_eq!(
        plan(&ib_pf(None), &s, &f, false).unwrap_err().reason,
        "no GUID files"
    );
}

#[test]
fn a_pf_without_a_netdev_cannot_have_what_goes_through_one() {
    let mut s = pfs(2, EswitchMode::Legacy, Some("mlx5_core"), false);
    s.no_netdev = true;
    let mut c = ib_pf(None);
    c.matcher = PfMatch::Pci("0000:3b:00.0".parse().unwrap());
    c.hw_tc_offload = true;
    let e = plan(&c, &s, &facts(&s), false).unwrap_err();
    assert!(
        e.reason.contains("has no netdev") && e.reason.contains("hw_tc_offload"),
        "{e}"
    );
    c.hw_tc_offload = false;
    assert!(plan(&c, &s, &facts(&s), false).is_ok());
}
