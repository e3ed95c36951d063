//! The planner on hand-made states: the seed sequence, refusals, orders, GUIDs.

use super::*;
use crate::host::net::NetdevState as Netdev;
use crate::kernel::EswitchSource;
use crate::observe::VfState;
use std::collections::{BTreeMap, BTreeSet};

pub(super) fn pfc(vfs: u16) -> PfConfig {
    PfConfig {
        matcher: crate::config::PfMatch::Name("p0".parse().unwrap()),
        vfs,
        eswitch: Some(EswitchMode::Switchdev),
        eswitch_order: EswitchOrder::AfterBond,
        bind: Some(Bind::Driver("mlx5_core".into())),
        reserved_vfs: BTreeSet::new(),
        hw_tc_offload: true,
        vf: BTreeMap::new(),
        mtu: None,
        ovs: None,
        ib: None,
        devlink: Default::default(),
        origin: "t".into(),
    }
}

fn nd(name: &str, up: bool) -> Netdev {
    Netdev {
        name: name.parse().unwrap(),
        up,
        master: None,
        switch_id: None,
        port_name: None,
        mac: None,
    }
}

pub(super) fn pfs(numvfs: u32, mode: EswitchMode, bound: Option<&str>, up: bool) -> PfState {
    PfState {
        name: "p0".parse().unwrap(),
        bus: "pci".into(),
        dev_name: "0000:3b:00.0".into(),
        driver: Some("mlx5_core".into()),
        numvfs,
        totalvfs: Some(8),
        autoprobe: Some(true),
        netdev: nd("p0", true),
        eswitch: Some(mode),
        eswitch_source: Some(EswitchSource::Devlink),
        pf_number: 0,
        vfs: (0..numvfs)
            .map(|i| VfState {
                index: i,
                pci: Some(format!("0000:3b:00.{}", i + 2).parse().unwrap()),
                driver: bound.map(String::from),
                driver_override: None,
                // vfio-pci and pci-stub give the host no netdev
                netdevs: if bound.is_some_and(|d| d != "vfio-pci") {
                    vec![nd(&format!("vf{i}"), up)]
                } else {
                    vec![]
                },
                ib_device: None,
            })
            .collect(),
        reps: (0..numvfs)
            .filter(|_| mode == EswitchMode::Switchdev)
            .map(|i| (i, format!("rep{i}").parse().unwrap()))
            .collect(),
        no_netdev: false,
    }
}

fn plan(c: &PfConfig, s: &PfState, phase: Phase, force: bool) -> Result<Vec<Step>, Refusal> {
    let mut extra = Facts::default();
    extra.hw_tc.insert(
        "p0".parse().unwrap(),
        s.eswitch == Some(EswitchMode::Switchdev) && s.numvfs > 0,
    );
    plan_pf(
        &Input {
            cfg: c,
            state: s,
            bond: None,
            await_bond: true,
        },
        &extra,
        phase,
        force,
    )
}

#[test]
fn fresh_pf_gets_the_whole_seed_sequence() {
    let c = pfc(4);
    let s = pfs(0, EswitchMode::Legacy, None, false);
    let text: Vec<String> = plan(&c, &s, Phase::Post, false)
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        text,
        [
            "p0: set sriov_drivers_autoprobe to 0",
            "p0: set sriov_numvfs to 4",
            "p0: set eswitch mode switchdev",
            "p0: wait for representors of VFs 0-3",
            "p0: bind VFs 0-3 to mlx5_core",
            "p0: set sriov_drivers_autoprobe to 1",
            "p0: enable hw-tc-offload",
        ]
    );
}

#[test]
fn pre_phase_stops_before_the_bond_steps() {
    let c = pfc(4);
    let s = pfs(0, EswitchMode::Legacy, None, false);
    let steps = plan(&c, &s, Phase::Pre, false).unwrap();
    assert_eq!(steps.len(), 2, "{steps:?}");
}

#[test]
fn configured_pf_plans_nothing() {
    let c = pfc(4);
    let s = pfs(4, EswitchMode::Switchdev, Some("mlx5_core"), true);
    assert_eq!(plan(&c, &s, Phase::Post, false).unwrap(), vec![]);
}

#[test]
fn count_change_with_vf_up_is_refused_naming_it() {
    let c = pfc(8);
    let s = pfs(4, EswitchMode::Switchdev, Some("mlx5_core"), true);
    let e = plan(&c, &s, Phase::Pre, false).unwrap_err();
    assert!(e.reason.contains("VF 0 netdev vf0 is up"), "{e}");
    assert!(plan(&c, &s, Phase::Pre, true).is_ok());
}

#[test]
fn vf_on_vfio_counts_as_in_use() {
    let c = pfc(8);
    let s = pfs(4, EswitchMode::Switchdev, Some("vfio-pci"), false);
    let e = plan(&c, &s, Phase::Pre, false).unwrap_err();
    assert!(e.reason.contains("bound to vfio-pci"), "{e}");
}

#[test]
fn idle_bound_vfs_are_unbound_around_a_mode_change() {
    let c = pfc(2);
    let s = pfs(2, EswitchMode::Legacy, Some("mlx5_core"), false);
    let text: Vec<String> = plan(&c, &s, Phase::Post, false)
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        text,
        [
            "p0: unbind VF 0 from mlx5_core",
            "p0: unbind VF 1 from mlx5_core",
            "p0: set eswitch mode switchdev",
            "p0: wait for representors of VFs 0-1",
            "p0: bind VFs 0-1 to mlx5_core",
            "p0: enable hw-tc-offload",
        ]
    );
}

#[test]
fn before_vfs_order_goes_through_zero() {
    let mut c = pfc(2);
    c.eswitch_order = EswitchOrder::BeforeVfs;
    let s = pfs(2, EswitchMode::Legacy, None, false);
    let steps = plan(&c, &s, Phase::Pre, false).unwrap();
    let text: Vec<String> = steps.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        text,
        [
            "p0: set sriov_drivers_autoprobe to 0",
            "p0: set sriov_numvfs to 0",
            "p0: set eswitch mode switchdev",
            "p0: set sriov_numvfs to 2",
        ]
    );
}

fn bond0() -> BondConfig {
    BondConfig {
        name: "bond0".parse().unwrap(),
        slaves: vec!["p0".parse().unwrap(), "p1".parse().unwrap()],
        vf_lag: false,
        ib: None,
        origin: "t".into(),
    }
}

#[test]
fn post_on_a_slave_not_yet_enslaved_waits_for_the_bond_before_anything_else() {
    // after pre: VFs created, unbound, eswitch still legacy (changed after the bond)
    let c = pfc(2);
    let b = bond0();
    let plan = |s: &PfState, phase| {
        plan_pf(
            &Input {
                cfg: &c,
                state: s,
                bond: Some((&b, 0)),
                await_bond: true,
            },
            &Facts::default(),
            phase,
            false,
        )
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
    };
    let mut s = pfs(2, EswitchMode::Legacy, None, false);
    assert_eq!(
        plan(&s, Phase::Post),
        [
            "p0: wait for bond0 to enslave p0, p1",
            "p0: set eswitch mode switchdev",
            "p0: wait for representors of VFs 0-1",
            "p0: bind VFs 0-1 to mlx5_core",
        ]
    );
    assert!(plan(&s, Phase::Pre).is_empty());
    s.netdev.master = Some("bond1".parse().unwrap());
    assert_eq!(
        plan(&s, Phase::Post)[0],
        "p0: wait for bond0 to enslave p0, p1"
    );
    s.netdev.master = Some("bond0".parse().unwrap());
    assert_eq!(plan(&s, Phase::Post)[0], "p0: set eswitch mode switchdev");
}

#[test]
fn too_many_vfs_is_refused() {
    let c = pfc(9);
    let s = pfs(0, EswitchMode::Legacy, None, false);
    let e = plan(&c, &s, Phase::Pre, false).unwrap_err();
    assert!(e.reason.contains("sriov_totalvfs"), "{e}");
}

#[test]
fn vfs_unbound_for_a_mode_change_without_bind_go_back_to_their_driver() {
    // autoprobe bound them (no `bind`): nothing else would bind them again
    let mut c = pfc(2);
    c.bind = None;
    c.hw_tc_offload = false;
    let s = pfs(2, EswitchMode::Legacy, Some("mlx5_core"), false);
    let text: Vec<String> = plan(&c, &s, Phase::Post, false)
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        text,
        [
            "p0: unbind VF 0 from mlx5_core",
            "p0: unbind VF 1 from mlx5_core",
            "p0: set eswitch mode switchdev",
            "p0: wait for representors of VFs 0-1",
            "p0: bind VFs 0-1 to mlx5_core",
        ]
    );
}
