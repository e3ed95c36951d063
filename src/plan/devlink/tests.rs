//! The devlink part of the planner on hand-made states.

use std::collections::BTreeMap;

use super::*;
use crate::config::{BondConfig, DevlinkParam, EncapMode, InlineMode, PfConfig};
use crate::plan::tests::{pfc, pfs};
use crate::plan::{plan_pf, Phase};

fn int(n: u64) -> ParamSetting {
    ParamSetting::Int(n)
}

fn param(ty: ParamType, generic: bool, values: &[(ParamCmode, ParamValue)]) -> ParamState {
    ParamState {
        ty,
        generic,
        values: values.iter().cloned().collect(),
    }
}

/// netdevsim's parameters: max_macs (generic u32) and test1 (bool), both driverinit only.
fn nsim(max_macs: u32, test1: bool) -> BTreeMap<String, ParamState> {
    BTreeMap::from([
        (
            "max_macs".to_string(),
            param(
                ParamType::U32,
                true,
                &[(ParamCmode::Driverinit, ParamValue::U32(max_macs))],
            ),
        ),
        (
            "test1".to_string(),
            param(
                ParamType::Bool,
                false,
                &[(ParamCmode::Driverinit, ParamValue::Bool(test1))],
            ),
        ),
    ])
}

/// Some of mlx5's: flow_steering_mode (runtime string), enable_roce (driverinit bool),
/// esw_port_metadata (runtime bool), a u8 with runtime and driverinit, one permanent only.
fn mlx5(fsm: &str) -> BTreeMap<String, ParamState> {
    BTreeMap::from([
        (
            "flow_steering_mode".to_string(),
            param(
                ParamType::String,
                false,
                &[(ParamCmode::Runtime, ParamValue::String(fsm.into()))],
            ),
        ),
        (
            "enable_roce".to_string(),
            param(
                ParamType::Bool,
                true,
                &[(ParamCmode::Driverinit, ParamValue::Bool(true))],
            ),
        ),
        (
            "both".to_string(),
            param(
                ParamType::U8,
                false,
                &[
                    (ParamCmode::Runtime, ParamValue::U8(1)),
                    (ParamCmode::Driverinit, ParamValue::U8(1)),
                ],
            ),
        ),
        (
            "nvm_only".to_string(),
            param(
                ParamType::U16,
                false,
                &[(ParamCmode::Permanent, ParamValue::U16(8))],
            ),
        ),
    ])
}

fn cfg(vfs: u16, params: &[(&str, ParamSetting, Option<ParamCmode>)]) -> PfConfig {
    let mut c = pfc(vfs);
    for (n, value, cmode) in params {
        c.devlink.params.insert(
            n.to_string(),
            DevlinkParam {
                value: value.clone(),
                cmode: *cmode,
            },
        );
    }
    c
}

fn facts(params: Option<BTreeMap<String, ParamState>>) -> Facts {
    let mut f = Facts::default();
    if let Some(p) = params {
        f.devlink_params
            .insert("p0".parse().unwrap(), ParamsSeen::Read(p));
    }
    f
}

fn run(
    c: &PfConfig,
    s: &PfState,
    f: &Facts,
    phase: Phase,
    force: bool,
) -> Result<Vec<String>, Refusal> {
    plan_pf(
        &Input {
            cfg: c,
            state: s,
            bond: None,
            await_bond: true,
        },
        f,
        phase,
        force,
    )
    .map(|v| v.iter().map(|s| s.to_string()).collect())
}

#[test]
fn fresh_pf_sets_driverinit_values_and_reloads_once_before_the_vfs() {
    let c = cfg(
        4,
        &[
            ("max_macs", int(16), None),
            ("test1", ParamSetting::Bool(false), None),
        ],
    );
    let s = pfs(0, EswitchMode::Legacy, None, false);
    assert_eq!(
        run(&c, &s, &facts(Some(nsim(32, true))), Phase::Pre, false).unwrap(),
        [
            "p0: set devlink param max_macs to 16 (driverinit)",
            "p0: set devlink param test1 to false (driverinit)",
            "p0: reload the driver (devlink dev reload, driver reinit) for its driverinit parameters",
            "p0: set sriov_drivers_autoprobe to 0",
            "p0: set sriov_numvfs to 4",
        ]
    );
    // one differs: one set, still one reload
    let steps = run(&c, &s, &facts(Some(nsim(16, true))), Phase::Pre, false).unwrap();
    assert_eq!(
        steps[0],
        "p0: set devlink param test1 to false (driverinit)"
    );
    assert_eq!(steps.iter().filter(|s| s.contains("reload")).count(), 1);
}

#[test]
fn values_already_set_plan_nothing() {
    let c = cfg(
        4,
        &[
            ("max_macs", int(16), None),
            ("test1", ParamSetting::Bool(false), None),
        ],
    );
    let s = pfs(4, EswitchMode::Switchdev, Some("mlx5_core"), true);
    assert_eq!(
        run(&c, &s, &facts(Some(nsim(16, false))), Phase::Post, false).unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn runtime_values_come_after_the_reload_and_runtime_is_the_default_cmode() {
    let c = cfg(
        2,
        &[
            ("flow_steering_mode", ParamSetting::Str("smfs".into()), None),
            ("enable_roce", ParamSetting::Bool(false), None),
            ("both", int(2), None),
        ],
    );
    let s = pfs(0, EswitchMode::Legacy, None, false);
    let steps = run(&c, &s, &facts(Some(mlx5("dmfs"))), Phase::Pre, false).unwrap();
    assert_eq!(
        steps[..4],
        [
            "p0: set devlink param enable_roce to false (driverinit)",
            "p0: reload the driver (devlink dev reload, driver reinit) for its driverinit parameters",
            "p0: set devlink param both to 2 (runtime)",
            "p0: set devlink param flow_steering_mode to smfs (runtime)",
        ]
    );
    // a runtime value alone needs no reload
    let c = cfg(
        2,
        &[("flow_steering_mode", ParamSetting::Str("smfs".into()), None)],
    );
    let steps = run(&c, &s, &facts(Some(mlx5("dmfs"))), Phase::Pre, false).unwrap();
    assert!(!steps.iter().any(|s| s.contains("reload")), "{steps:?}");
    // a cmode given is used; permanent says when it takes effect
    let c = cfg(
        2,
        &[
            ("both", int(2), Some(ParamCmode::Driverinit)),
            ("nvm_only", int(4), Some(ParamCmode::Permanent)),
        ],
    );
    let steps = run(&c, &s, &facts(Some(mlx5("dmfs"))), Phase::Pre, false).unwrap();
    assert_eq!(steps[0], "p0: set devlink param both to 2 (driverinit)");
    assert_eq!(
        steps[2],
        "p0: set devlink param nvm_only to 4 (permanent), in effect after a firmware reset or a power cycle"
    );
}

#[test]
fn unknown_names_wrong_types_and_cmodes_are_refused_even_with_force() {
    let s = pfs(0, EswitchMode::Legacy, None, false);
    let f = facts(Some(nsim(32, true)));
    for (params, want) in [
        (
            vec![("no_such", int(1), None)],
            vec![
                "pci/0000:3b:00.0 has no devlink param \"no_such\"",
                "it has max_macs (u32, generic; cmode driverinit), test1 (bool; cmode driverinit)",
            ],
        ),
        (
            vec![("max_macs", ParamSetting::Str("abc".into()), None)],
            vec![
                "devlink param max_macs of pci/0000:3b:00.0 is a u32 (0..=4294967295), but the config gives \"abc\" (a string) (cmode driverinit)",
            ],
        ),
        (
            vec![("test1", int(5), None)],
            vec!["test1 of pci/0000:3b:00.0 is a bool (true or false), but the config gives 5 (an integer)"],
        ),
        (
            vec![("max_macs", int(1 << 32), None)],
            vec!["is a u32 (0..=4294967295), and the config's 4294967296 is out of its range"],
        ),
        (
            vec![("max_macs", int(16), Some(ParamCmode::Runtime))],
            vec!["max_macs of pci/0000:3b:00.0 (u32, generic; cmode driverinit) cannot be set in cmode runtime"],
        ),
        // every error at once
        (
            vec![("test1", int(5), None), ("no_such", int(1), None)],
            vec!["no devlink param \"no_such\"", "; devlink param test1"],
        ),
    ] {
        let c = cfg(4, &params);
        for force in [false, true] {
            let e = run(&c, &s, &f, Phase::Pre, force).unwrap_err();
            for w in &want {
                assert!(e.to_string().contains(w), "{params:?}: {e}");
            }
            assert!(e.to_string().starts_with("p0: "), "{e}");
        }
    }
    // permanent is never the default
    let c = cfg(4, &[("nvm_only", int(4), None)]);
    let e = run(&c, &s, &facts(Some(mlx5("dmfs"))), Phase::Pre, true).unwrap_err();
    assert!(e.reason.contains("has only cmode permanent"), "{e}");
    assert!(
        e.reason
            .contains("nvm_only = { value = 4, cmode = \"permanent\" }"),
        "{e}"
    );
    // a device without parameters says so
    let c = cfg(4, &[("max_macs", int(4), None)]);
    let e = run(&c, &s, &facts(Some(BTreeMap::new())), Phase::Pre, false).unwrap_err();
    assert!(
        e.reason.contains("reports no devlink parameters at all"),
        "{e}"
    );
    // a fixture tree cannot read them
    let mut f = Facts::default();
    f.devlink_params.insert(
        "p0".parse().unwrap(),
        ParamsSeen::Unreadable("not on a fixture tree".into()),
    );
    let e = run(&c, &s, &f, Phase::Pre, true).unwrap_err();
    assert!(
        e.reason
            .contains("devlink_params cannot be checked or set: not on a fixture tree"),
        "{e}"
    );
}

#[test]
fn a_reload_with_vfs_is_refused_unless_forced_and_forced_goes_through_zero_vfs() {
    let c = cfg(4, &[("max_macs", int(16), None)]);
    let s = pfs(4, EswitchMode::Switchdev, Some("mlx5_core"), false);
    let f = facts(Some(nsim(32, true)));
    let e = run(&c, &s, &f, Phase::Pre, false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "p0: devlink param max_macs (driverinit) is 32, want 16: a driverinit value takes effect only with a driver reload (devlink dev reload), which destroys the PF's VFs, and it has 4 VFs. Not changed without --force, which removes the VFs, sets the parameters, reloads the driver and re-creates the VFs as configured; or let the next boot set it before its VFs exist"
    );
    assert_eq!(
        run(&c, &s, &f, Phase::Post, true).unwrap(),
        [
            "p0: set sriov_numvfs to 0",
            "p0: set devlink param max_macs to 16 (driverinit)",
            "p0: reload the driver (devlink dev reload, driver reinit) for its driverinit parameters",
            "p0: set sriov_drivers_autoprobe to 0",
            "p0: set sriov_numvfs to 4",
            "p0: set eswitch mode switchdev",
            "p0: wait for representors of VFs 0-3",
            "p0: bind VFs 0-3 to mlx5_core",
            "p0: set sriov_drivers_autoprobe to 1",
        ]
    );
}

#[test]
fn a_run_that_removes_the_vfs_anyway_reloads_between_and_guards_vfs_in_use() {
    // 4 VFs → 2: the count change goes through 0, where the reload goes
    let c = cfg(2, &[("max_macs", int(16), None)]);
    let s = pfs(4, EswitchMode::Legacy, Some("mlx5_core"), false);
    let f = facts(Some(nsim(32, true)));
    assert_eq!(
        run(&c, &s, &f, Phase::Pre, false).unwrap(),
        [
            "p0: set sriov_numvfs to 0",
            "p0: set devlink param max_macs to 16 (driverinit)",
            "p0: reload the driver (devlink dev reload, driver reinit) for its driverinit parameters",
            "p0: set sriov_drivers_autoprobe to 0",
            "p0: set sriov_numvfs to 2",
        ]
    );
    // with a VF up, refused as the count change alone would be; --force does it
    let s = pfs(4, EswitchMode::Legacy, Some("mlx5_core"), true);
    let e = run(&c, &s, &f, Phase::Pre, false).unwrap_err();
    assert!(
        e.reason.starts_with("setting devlink param max_macs (driverinit) is 32, want 16 would reset VFs in use (VF 0 netdev vf0 is up"),
        "{e}"
    );
    assert!(run(&c, &s, &f, Phase::Pre, true).is_ok());
    // the before-vfs mode change goes through 0 as well
    let mut c = cfg(4, &[("max_macs", int(16), None)]);
    c.eswitch_order = EswitchOrder::BeforeVfs;
    let s = pfs(4, EswitchMode::Legacy, None, false);
    let steps = run(&c, &s, &f, Phase::Pre, false).unwrap();
    assert_eq!(steps[0], "p0: set sriov_numvfs to 0");
    assert_eq!(
        steps[3..],
        [
            "p0: set sriov_drivers_autoprobe to 0",
            "p0: set eswitch mode switchdev",
            "p0: set sriov_numvfs to 4",
        ]
    );
}

#[test]
fn flow_steering_mode_needs_legacy_without_vfs() {
    let c = cfg(
        4,
        &[("flow_steering_mode", ParamSetting::Str("smfs".into()), None)],
    );
    let f = facts(Some(mlx5("dmfs")));
    // at boot: first thing
    let s = pfs(0, EswitchMode::Legacy, None, false);
    let steps = run(&c, &s, &f, Phase::Pre, false).unwrap();
    assert_eq!(
        steps[0],
        "p0: set devlink param flow_steering_mode to smfs (runtime)"
    );
    assert_eq!(steps.last().unwrap(), "p0: set sriov_numvfs to 4");
    // switchdev with VFs: refused, naming the param and the fix
    let s = pfs(4, EswitchMode::Switchdev, Some("mlx5_core"), false);
    let e = run(&c, &s, &f, Phase::Post, false).unwrap_err();
    assert!(
        e.reason.starts_with("devlink param flow_steering_mode (runtime) is \"dmfs\", want \"smfs\": the kernel takes flow_steering_mode only in legacy mode with no VFs, and it has 4 VFs in switchdev mode. Not changed without --force, which removes the VFs, puts the eswitch in legacy mode, sets the parameters"),
        "{e}"
    );
    // forced: out of switchdev and back
    let steps = run(&c, &s, &f, Phase::Post, true).unwrap();
    assert_eq!(
        steps[..6],
        [
            "p0: set sriov_numvfs to 0",
            "p0: set eswitch mode legacy",
            "p0: set devlink param flow_steering_mode to smfs (runtime)",
            "p0: set sriov_drivers_autoprobe to 0",
            "p0: set sriov_numvfs to 4",
            "p0: set eswitch mode switchdev",
        ]
    );
    // switchdev without VFs: still refused (the eswitch would have to leave switchdev)
    let s = pfs(0, EswitchMode::Switchdev, None, false);
    let e = run(&c, &s, &f, Phase::Pre, false).unwrap_err();
    assert!(
        e.reason.contains("and its eswitch is in switchdev mode"),
        "{e}"
    );
    // a count change that removes the VFs does not leave switchdev: still refused
    let c = cfg(
        2,
        &[("flow_steering_mode", ParamSetting::Str("smfs".into()), None)],
    );
    let s = pfs(4, EswitchMode::Switchdev, Some("mlx5_core"), false);
    assert!(run(&c, &s, &f, Phase::Pre, false).is_err());
    // legacy with VFs and a count change: set at 0 VFs
    let s = pfs(4, EswitchMode::Legacy, Some("mlx5_core"), false);
    let steps = run(&c, &s, &f, Phase::Pre, false).unwrap();
    assert_eq!(
        steps[..2],
        [
            "p0: set sriov_numvfs to 0",
            "p0: set devlink param flow_steering_mode to smfs (runtime)"
        ]
    );
}

#[test]
fn post_waits_for_the_bond_before_the_devlink_steps() {
    let c = cfg(2, &[("test1", ParamSetting::Bool(false), None)]);
    let s = pfs(0, EswitchMode::Legacy, None, false);
    let b = BondConfig {
        name: "bond0".parse().unwrap(),
        slaves: vec!["p0".parse().unwrap(), "p1".parse().unwrap()],
        vf_lag: false,
        ib: None,
        origin: "t".into(),
    };
    let steps = plan_pf(
        &Input {
            cfg: &c,
            state: &s,
            bond: Some((&b, 0)),
            await_bond: true,
        },
        &facts(Some(nsim(32, true))),
        Phase::Post,
        false,
    )
    .unwrap();
    assert_eq!(steps[0].kind(), "wait-slaves");
    assert_eq!(steps[1].kind(), "devlink-param");
    assert_eq!(steps[2].kind(), "devlink-reload");
    assert_eq!(steps[1].pf().as_str(), "p0");
}

#[test]
fn a_reload_of_an_enslaved_pf_is_refused_even_with_force() {
    let c = cfg(2, &[("test1", ParamSetting::Bool(false), None)]);
    let mut s = pfs(2, EswitchMode::Switchdev, Some("mlx5_core"), false);
    s.netdev.master = Some("bond0".parse().unwrap());
    let e = run(&c, &s, &facts(Some(nsim(32, true))), Phase::Post, true).unwrap_err();
    assert!(
        e.reason.contains("which re-creates p0 outside bond0, its master; not done, --force or not: take it out of bond0 first (ifdown bond0)"),
        "{e}"
    );
}

#[test]
fn a_reload_in_switchdev_without_vfs_sets_the_mode_again() {
    let c = cfg(2, &[("test1", ParamSetting::Bool(false), None)]);
    let s = pfs(0, EswitchMode::Switchdev, None, false);
    let steps = run(&c, &s, &facts(Some(nsim(32, true))), Phase::Post, false).unwrap();
    assert_eq!(
        steps[..5],
        [
            "p0: set devlink param test1 to false (driverinit)",
            "p0: reload the driver (devlink dev reload, driver reinit) for its driverinit parameters",
            "p0: set sriov_drivers_autoprobe to 0",
            "p0: set sriov_numvfs to 2",
            "p0: set eswitch mode switchdev",
        ]
    );
}

fn with_modes(c: &mut PfConfig) {
    c.devlink.inline_mode = Some(InlineMode::Transport);
    c.devlink.encap_mode = Some(EncapMode::Basic);
}

fn modes_facts(inline: Option<InlineMode>, encap: Option<EncapMode>) -> Facts {
    let mut f = Facts::default();
    f.eswitch_modes
        .insert("p0".parse().unwrap(), EswitchModes { inline, encap });
    f
}

#[test]
fn inline_and_encap_mode_go_with_the_change_to_switchdev() {
    let mut c = pfc(2);
    with_modes(&mut c);
    let s = pfs(0, EswitchMode::Legacy, None, false);
    let steps = run(&c, &s, &modes_facts(None, None), Phase::Post, false).unwrap();
    assert_eq!(
        steps[2],
        "p0: set eswitch mode switchdev inline-mode transport encap-mode basic"
    );
    assert_eq!(steps.iter().filter(|s| s.contains("inline")).count(), 1);
}

#[test]
fn inline_and_encap_mode_in_switchdev_are_set_when_they_differ_and_only_when_known() {
    let mut c = pfc(2);
    with_modes(&mut c);
    let s = pfs(2, EswitchMode::Switchdev, Some("mlx5_core"), true);
    let plan = |f: &Facts, phase| run(&c, &s, f, phase, false).unwrap();
    // both differ
    let f = modes_facts(Some(InlineMode::None), Some(EncapMode::None));
    assert_eq!(
        plan(&f, Phase::Post),
        ["p0: set eswitch inline-mode transport encap-mode basic"]
    );
    // after-bond (the default order): in post only, like a mode change
    assert_eq!(plan(&f, Phase::Pre), Vec::<String>::new());
    // one differs
    let f = modes_facts(Some(InlineMode::Transport), Some(EncapMode::None));
    assert_eq!(plan(&f, Phase::Post), ["p0: set eswitch encap-mode basic"]);
    // as configured
    let f = modes_facts(Some(InlineMode::Transport), Some(EncapMode::Basic));
    assert_eq!(plan(&f, Phase::Post), Vec::<String>::new());
    // not reported by the driver: not planned (set with the mode change, once), so a run
    // that cannot read them back converges
    let f = modes_facts(None, None);
    assert_eq!(plan(&f, Phase::Post), Vec::<String>::new());
    // a count change: with no VFs, before the new ones
    let mut c = pfc(4);
    with_modes(&mut c);
    c.eswitch_order = EswitchOrder::BeforeBond;
    let s = pfs(2, EswitchMode::Switchdev, None, false);
    let f = modes_facts(Some(InlineMode::None), Some(EncapMode::Basic));
    assert_eq!(
        run(&c, &s, &f, Phase::Pre, false).unwrap(),
        [
            "p0: set sriov_drivers_autoprobe to 0",
            "p0: set sriov_numvfs to 0",
            "p0: set eswitch inline-mode transport",
            "p0: set sriov_numvfs to 4",
        ]
    );
}
