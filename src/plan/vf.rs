//! The per-VF parts of a PF's plan beyond the properties set through the PF: MTUs (the PF's
//! netdev and each VF's own), per-VF `bind` (VF partitioning) and rebinding VFs whose
//! configured driver changed. Pure, like the rest of the planner.
//!
//! Decisions:
//! - **PF MTU** is set in vf-pre, before VFs are created (an mlx5 VF's maximum MTU follows its
//!   PF's). A PF that is a bond slave is skipped with a warning naming the bond: the kernel
//!   lets a slave's MTU be changed, but bonding sets every slave to the bond's MTU when it
//!   enslaves it and whenever the bond's MTU changes, so the bond is where it is configured.
//! - **VF MTU** is set on the VF's own netdev after binding (post). A VF with no netdev here
//!   (bound to vfio-pci or pci-stub, not bound, or its netdev in another namespace) is
//!   skipped with a note: its consumer owns its MTU. Not an error, and not planned, so a host
//!   with such VFs converges.
//! - **A VF on another driver than configured** is unbound and bound to the configured one
//!   when it is idle (as `PfState::vf_in_use` decides: no netdev here up or enslaved, not bound
//!   without a netdev here); an in-use one is refused, naming it, its driver and its use.
//!   `bind = "none"` never unbinds: a VF found bound stays with whoever bound it.
//! - **vfio-pci** is taken as a guest's: a VF bound to it is what libvirt does for a guest's
//!   managed hostdev, and whether a guest holds its group open (`/dev/vfio/N`) could only be
//!   told by scanning every process's file descriptors. So a VF on vfio-pci is never handed to
//!   another driver without `--force`, and with it only with a warning in the journal; the
//!   same warning names every VF on vfio-pci that a forced plan unbinds for another reason (an
//!   eswitch mode change, new IB GUIDs) or destroys (a new VF count).

use std::collections::BTreeMap;

use super::{Input, Refusal, Step};
use crate::config::{vf_bind, Bind, PfConfig};
use crate::observe::Facts;
use crate::types::IfName;

/// Drivers that give the host no netdev for a VF: no MTU to set there.
const NO_NETDEV_DRIVERS: [&str; 2] = ["vfio-pci", "pci-stub"];

/// The driver a guest owns a VF through.
const GUEST_DRIVER: &str = "vfio-pci";

/// The driver VF `vf` is configured to be bound to, if any (not `bind = "none"`).
pub(super) fn wanted_driver(c: &PfConfig, vf: u32) -> Option<&str> {
    let i = u16::try_from(vf).ok()?;
    match vf_bind(c, i)? {
        Bind::Driver(d) => Some(d.as_str()),
        Bind::None => None,
    }
}

/// The PF's MTU, unless it already has it or a bond owns it (see [`notes`]).
pub(super) fn pf_mtu(inp: &Input, extra: &Facts) -> Option<Step> {
    let (c, s) = (inp.cfg, inp.state);
    let mtu = c.mtu?;
    if slave_of(inp).is_some() {
        return None;
    }
    let now = extra.mtu.get(&s.name).copied();
    (now != Some(mtu)).then(|| Step::Mtu {
        pf: s.name.clone(),
        mtu,
        now,
    })
}

/// The bond the PF is (or is configured to be) a slave of.
fn slave_of(inp: &Input) -> Option<IfName> {
    inp.state
        .netdev
        .master
        .clone()
        .or_else(|| inp.bond.map(|(b, _)| b.name.clone()))
}

/// VFs that survive this plan bound to another driver than configured: unbound (the caller
/// binds every VF of `unbound_after` to its driver). An in-use one is a refusal; a VF on
/// vfio-pci is one without `force`.
pub(super) fn rebinds(
    inp: &Input,
    force: bool,
    unbound_after: &mut Vec<u32>,
    steps: &mut Vec<Step>,
) -> Result<(), Refusal> {
    let (c, s) = (inp.cfg, inp.state);
    let refuse = |reason: String| Refusal {
        pf: s.name.clone(),
        reason,
    };
    for v in &s.vfs {
        if unbound_after.contains(&v.index) || v.index >= u32::from(c.vfs) {
            continue;
        }
        let (Some(cur), Some(want)) = (v.driver.as_deref(), wanted_driver(c, v.index)) else {
            continue;
        };
        if cur == want {
            continue;
        }
        let vf = match &v.pci {
            Some(p) => format!("VF {} ({p})", v.index),
            None => format!("VF {}", v.index),
        };
        if cur == GUEST_DRIVER && !force {
            return Err(refuse(format!(
                "{vf} is bound to {GUEST_DRIVER} and a guest may own it, but bind wants {want}: it is not handed to another driver; detach it from its guest (or shut the guest down) and pass --force to rebind it"
            )));
        }
        if let Some(why) = s.vf_in_use(v, None).filter(|_| !force) {
            return Err(refuse(format!(
                "{vf} is bound to {cur} but bind wants {want}, and it is in use ({why}); stop its user or pass --force"
            )));
        }
        steps.push(Step::Unbind {
            pf: s.name.clone(),
            vf: v.index,
            driver: cur.to_string(),
        });
        unbound_after.push(v.index);
    }
    unbound_after.sort_unstable();
    Ok(())
}

/// One `Bind` per driver for the VFs of `unbound` (sorted), in the order of each driver's
/// first VF; VFs with `bind = "none"` stay unbound.
pub(super) fn binds(c: &PfConfig, pf: &IfName, unbound: &[u32]) -> Vec<Step> {
    let mut by_driver: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for &vf in unbound {
        if let Some(d) = wanted_driver(c, vf) {
            by_driver.entry(d).or_default().push(vf);
        }
    }
    let mut groups: Vec<(&str, Vec<u32>)> = by_driver.into_iter().collect();
    groups.sort_by_key(|(_, vfs)| vfs[0]);
    groups
        .into_iter()
        .map(|(d, vfs)| Step::Bind {
            pf: pf.clone(),
            vfs,
            driver: d.to_string(),
        })
        .collect()
}

/// Binds VFs back to the driver each had (one step per driver, in driver order): VFs this
/// plan unbinds that no `bind` names a driver for.
pub(super) fn back_to_their_drivers(pf: &IfName, vfs: Vec<(u32, String)>) -> Vec<Step> {
    let mut by_driver: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (vf, d) in vfs {
        by_driver.entry(d).or_default().push(vf);
    }
    by_driver
        .into_iter()
        .map(|(driver, vfs)| Step::Bind {
            pf: pf.clone(),
            vfs,
            driver,
        })
        .collect()
}

/// A VF's netdev is (re)made by this run: bound now, or created and autoprobed.
fn pending_netdev(c: &PfConfig, vf: u32, count_change: bool, unbound_after: &[u32]) -> bool {
    let fresh = count_change || unbound_after.contains(&vf);
    fresh
        && match (&c.bind, wanted_driver(c, vf)) {
            // autoprobed by its default driver as it is created
            (None, _) => count_change,
            (_, Some(d)) => !NO_NETDEV_DRIVERS.contains(&d),
            (_, None) => false,
        }
}

/// The MTUs of VF netdevs (post, after binding): of those that exist and differ, and of
/// those this run binds (named when the step runs).
pub(super) fn vf_mtus(
    inp: &Input,
    extra: &Facts,
    count_change: bool,
    unbound_after: &[u32],
) -> Vec<Step> {
    let (c, s) = (inp.cfg, inp.state);
    let mut steps = vec![];
    for (&i, vc) in &c.vf {
        let (Some(mtu), vf) = (vc.mtu, u32::from(i)) else {
            continue;
        };
        if vf >= u32::from(c.vfs) {
            continue;
        }
        if pending_netdev(c, vf, count_change, unbound_after) {
            steps.push(Step::VfMtu {
                pf: s.name.clone(),
                vf,
                mtu,
                netdev: None,
            });
            continue;
        }
        if count_change || unbound_after.contains(&vf) {
            continue;
        }
        let Some(v) = s.vfs.get(vf as usize) else {
            continue;
        };
        for n in &v.netdevs {
            if extra.mtu.get(&n.name) != Some(&mtu) {
                steps.push(Step::VfMtu {
                    pf: s.name.clone(),
                    vf,
                    mtu,
                    netdev: Some(n.name.clone()),
                });
            }
        }
    }
    steps
}

/// What the plan `steps` of this PF leave undone on purpose, or do only because `--force`
/// allows it, for the journal: `(warning, text)`. The PF's MTU when a bond owns it, VF MTUs
/// without a netdev to set them on, and VFs on vfio-pci (a guest's) that the plan takes away:
/// unbound (a changed bind, an eswitch mode change, new IB GUIDs) or destroyed (a new VF
/// count). Without `--force` a plan never does the latter: it is refused.
pub fn notes(inp: &Input, extra: &Facts, steps: &[Step]) -> Vec<(bool, String)> {
    let (c, s) = (inp.cfg, inp.state);
    let pf = &s.name;
    let mut out = vec![];
    if let (Some(mtu), Some(bond)) = (c.mtu, slave_of(inp)) {
        if extra.mtu.get(pf) != Some(&mtu) {
            out.push((
                true,
                format!(
                    "{pf}: mtu = {mtu} ({}) is not set: {pf} is a slave of {bond}, and bonding sets its slaves' MTU to the bond's (when it enslaves them and whenever the bond's changes); set MTU {mtu} on {bond} (ifupdown `mtu {mtu}`, systemd-networkd `MTUBytes={mtu}`)",
                    c.origin
                ),
            ));
        }
    }
    let survive = s.numvfs == u32::from(c.vfs);
    for v in s.vfs.iter().filter(|_| survive) {
        let want = wanted_driver(c, v.index);
        let vc = u16::try_from(v.index).ok().and_then(|i| c.vf.get(&i));
        if let Some(mtu) = vc.and_then(|vc| vc.mtu) {
            let bound_later = match (v.driver.as_deref(), want) {
                (Some(cur), Some(d)) => cur != d && !NO_NETDEV_DRIVERS.contains(&d),
                (None, Some(d)) => !NO_NETDEV_DRIVERS.contains(&d),
                _ => false,
            };
            if v.netdevs.is_empty() && !bound_later {
                let how = match v.driver.as_deref() {
                    Some(d) => format!("bound to {d}"),
                    None => "bound to no driver".into(),
                };
                out.push((
                    false,
                    format!(
                        "{pf}: VF {} mtu {mtu} not set: it has no netdev in this network namespace ({how}); whoever owns it sets its MTU",
                        v.index
                    ),
                ));
            }
        }
    }
    let on_guest_driver: Vec<u32> = s
        .vfs
        .iter()
        .filter(|v| v.driver.as_deref() == Some(GUEST_DRIVER))
        .map(|v| v.index)
        .collect();
    if steps.iter().any(|st| matches!(st, Step::NumVfs { .. })) {
        if !on_guest_driver.is_empty() {
            out.push((
                true,
                format!(
                    "{pf}: --force: VF(s) {} are bound to {GUEST_DRIVER} and a guest may own them; the VF count change destroys them",
                    super::ranges(&on_guest_driver)
                ),
            ));
        }
        return out;
    }
    for st in steps {
        let Step::Unbind { vf, driver, .. } = st else {
            continue;
        };
        if driver != GUEST_DRIVER {
            continue;
        }
        let to = steps.iter().find_map(|b| match b {
            Step::Bind { vfs, driver, .. } if vfs.contains(vf) => Some(driver.as_str()),
            _ => None,
        });
        let then = match to {
            Some(d) if d == GUEST_DRIVER => format!("and bound to {GUEST_DRIVER} again"),
            Some(d) => format!("and bound to {d}"),
            None => "and left unbound".into(),
        };
        out.push((
            true,
            format!(
                "{pf}: --force: VF {vf} is bound to {GUEST_DRIVER} and a guest may own it; it is unbound {then}"
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::super::{plan_pf, Phase};
    use super::*;
    use crate::config::{EswitchOrder, PfMatch, VfConfig};
    use crate::host::net::NetdevState;
    use crate::netlink::rtnl::VfInfo;
    use crate::observe::{PfState, VfState};

    /// An igb-like PF: no eswitch, VFs on `drivers[i]` (netdev `vfI` unless vfio-pci/none).
    fn igb(drivers: &[Option<&str>], up: &[u32]) -> PfState {
        let nd = |n: &str, up: bool| NetdevState {
            name: n.parse().unwrap(),
            up,
            master: None,
            switch_id: None,
            port_name: None,
            mac: None,
        };
        PfState {
            name: "p0".parse().unwrap(),
            bus: "pci".into(),
            dev_name: "0000:01:00.0".into(),
            driver: Some("igb".into()),
            numvfs: drivers.len() as u32,
            totalvfs: Some(7),
            autoprobe: Some(true),
            netdev: nd("p0", true),
            eswitch: None,
            eswitch_source: None,
            pf_number: 0,
            vfs: drivers
                .iter()
                .enumerate()
                .map(|(i, d)| VfState {
                    index: i as u32,
                    pci: Some(format!("0000:01:10.{i}").parse().unwrap()),
                    driver: d.map(String::from),
                    driver_override: None,
                    netdevs: match d {
                        Some(d) if !NO_NETDEV_DRIVERS.contains(d) => {
                            vec![nd(&format!("vf{i}"), up.contains(&(i as u32)))]
                        }
                        _ => vec![],
                    },
                    ib_device: None,
                })
                .collect(),
            reps: BTreeMap::new(),
            no_netdev: false,
        }
    }

    fn cfg(vfs: u16, bind: Bind, vf: &[(u16, VfConfig)]) -> PfConfig {
        PfConfig {
            matcher: PfMatch::Name("p0".parse().unwrap()),
            vfs,
            eswitch: None,
            eswitch_order: EswitchOrder::AfterBond,
            bind: Some(bind),
            reserved_vfs: BTreeSet::new(),
            hw_tc_offload: false,
            vf: vf.iter().cloned().collect(),
            mtu: None,
            ovs: None,
            ib: None,
            devlink: Default::default(),
            origin: "c.toml:1".into(),
        }
    }

    fn drv(d: &str) -> Bind {
        Bind::Driver(d.into())
    }

    fn bind(b: Bind) -> VfConfig {
        VfConfig {
            bind: Some(b),
            ..VfConfig::default()
        }
    }

    fn plan(
        c: &PfConfig,
        s: &PfState,
        x: &Facts,
        phase: Phase,
        force: bool,
    ) -> Result<Vec<String>, Refusal> {
        let inp = Input {
            cfg: c,
            state: s,
            bond: None,
            await_bond: true,
        };
        plan_pf(&inp, x, phase, force).map(|v| v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn per_vf_bind_groups_binds_by_driver_and_leaves_none_unbound() {
        let c = cfg(
            5,
            drv("igbvf"),
            &[
                (1, bind(Bind::None)),
                (2, bind(drv("vfio-pci"))),
                (4, bind(drv("vfio-pci"))),
            ],
        );
        let s = igb(&[], &[]);
        assert_eq!(
            plan(&c, &s, &Facts::default(), Phase::Post, false).unwrap(),
            [
                "p0: set sriov_drivers_autoprobe to 0",
                "p0: set sriov_numvfs to 5",
                "p0: bind VFs 0,3 to igbvf",
                "p0: bind VFs 2,4 to vfio-pci",
                "p0: set sriov_drivers_autoprobe to 1",
            ]
        );
        // converged: VF 1 unbound, the others on their drivers
        let mut s = igb(
            &[
                Some("igbvf"),
                None,
                Some("vfio-pci"),
                Some("igbvf"),
                Some("vfio-pci"),
            ],
            &[],
        );
        s.autoprobe = Some(true);
        assert_eq!(
            plan(&c, &s, &Facts::default(), Phase::Post, false).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_changed_bind_rebinds_an_idle_vf_and_refuses_an_in_use_one() {
        let c = cfg(3, drv("igbvf"), &[(2, bind(drv("pci-stub")))]);
        let s = igb(&[Some("igbvf"), Some("igbvf"), Some("igbvf")], &[0]);
        assert_eq!(
            plan(&c, &s, &Facts::default(), Phase::Post, false).unwrap(),
            ["p0: unbind VF 2 from igbvf", "p0: bind VFs 2 to pci-stub",]
        );
        // pre leaves binding to post
        assert!(plan(&c, &s, &Facts::default(), Phase::Pre, false)
            .unwrap()
            .is_empty());
        let s = igb(&[Some("igbvf"), Some("igbvf"), Some("igbvf")], &[2]);
        let e = plan(&c, &s, &Facts::default(), Phase::Post, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "p0: VF 2 (0000:01:10.2) is bound to igbvf but bind wants pci-stub, and it is in use (VF 2 netdev vf2 is up); stop its user or pass --force"
        );
        assert!(plan(&c, &s, &Facts::default(), Phase::Post, true).is_ok());
        // its netdev moved into a container's namespace: in use too
        let mut s = igb(&[Some("igbvf"), Some("igbvf"), Some("igbvf")], &[]);
        s.vfs[2].netdevs.clear();
        let e = plan(&c, &s, &Facts::default(), Phase::Post, false).unwrap_err();
        assert!(
            e.reason
                .contains("VF 2 is bound to igbvf with no netdev in this network namespace"),
            "{e}"
        );
    }

    #[test]
    fn a_vf_on_vfio_pci_is_not_handed_over_without_force_and_with_it_a_warning_says_so() {
        let c = cfg(2, drv("igbvf"), &[]);
        let s = igb(&[Some("igbvf"), Some("vfio-pci")], &[]);
        let e = plan(&c, &s, &Facts::default(), Phase::Post, false).unwrap_err();
        assert!(
            e.reason.contains(
                "VF 1 (0000:01:10.1) is bound to vfio-pci and a guest may own it, but bind wants igbvf"
            ),
            "{e}"
        );
        assert_eq!(
            plan(&c, &s, &Facts::default(), Phase::Post, true).unwrap(),
            ["p0: unbind VF 1 from vfio-pci", "p0: bind VFs 1 to igbvf"]
        );
        let inp = Input {
            cfg: &c,
            state: &s,
            bond: None,
            await_bond: true,
        };
        let forced = plan_pf(&inp, &Facts::default(), Phase::Post, true).unwrap();
        assert_eq!(
            notes(&inp, &Facts::default(), &forced),
            [(
                true,
                "p0: --force: VF 1 is bound to vfio-pci and a guest may own it; it is unbound and bound to igbvf".to_string()
            )]
        );
        // a count change under --force destroys it: said too
        let mut more = c.clone();
        more.vfs = 3;
        let inp = Input {
            cfg: &more,
            state: &s,
            bond: None,
            await_bond: true,
        };
        assert!(plan_pf(&inp, &Facts::default(), Phase::Pre, false).is_err());
        let forced = plan_pf(&inp, &Facts::default(), Phase::Pre, true).unwrap();
        assert_eq!(
            notes(&inp, &Facts::default(), &forced),
            [(
                true,
                "p0: --force: VF(s) 1 are bound to vfio-pci and a guest may own them; the VF count change destroys them".to_string()
            )]
        );
        // bind = "none" never takes a VF from whoever bound it
        let c = cfg(2, Bind::None, &[]);
        assert!(plan(&c, &s, &Facts::default(), Phase::Post, false)
            .unwrap()
            .is_empty());
    }

    fn rates(max: Option<u32>, min: Option<u32>) -> VfConfig {
        VfConfig {
            max_tx_rate: max,
            min_tx_rate: min,
            ..VfConfig::default()
        }
    }

    #[test]
    fn tx_rates_are_planned_until_the_driver_reports_them() {
        let c = cfg(2, drv("igbvf"), &[(1, rates(Some(1000), Some(100)))]);
        let s = igb(&[Some("igbvf"), Some("igbvf")], &[]);
        let mut x = Facts::default();
        let info = |min, max| VfInfo {
            vf: 1,
            min_tx_rate: Some(min),
            max_tx_rate: Some(max),
            ..VfInfo::default()
        };
        x.vf_info.insert("p0".parse().unwrap(), vec![info(0, 0)]);
        assert_eq!(
            plan(&c, &s, &x, Phase::Pre, false).unwrap(),
            ["p0: set VF 1 max_tx_rate 1000 min_tx_rate 100"]
        );
        x.vf_info
            .insert("p0".parse().unwrap(), vec![info(100, 1000)]);
        assert!(plan(&c, &s, &x, Phase::Post, false).unwrap().is_empty());
    }

    #[test]
    fn pf_mtu_comes_before_the_vfs_and_a_bond_slave_is_left_to_its_bond() {
        let mut c = cfg(2, drv("igbvf"), &[]);
        c.mtu = Some(9000);
        let s = igb(&[], &[]);
        let mut x = Facts::default();
        x.mtu.insert("p0".parse().unwrap(), 1500);
        let pre = plan(&c, &s, &x, Phase::Pre, false).unwrap();
        assert_eq!(
            pre,
            [
                "p0: set MTU 9000 (now 1500)",
                "p0: set sriov_drivers_autoprobe to 0",
                "p0: set sriov_numvfs to 2",
            ]
        );
        x.mtu.insert("p0".parse().unwrap(), 9000);
        assert_eq!(plan(&c, &s, &x, Phase::Pre, false).unwrap().len(), 2);
        // enslaved: not planned, a warning names the bond
        x.mtu.insert("p0".parse().unwrap(), 1500);
        let mut s = igb(&[Some("igbvf"), Some("igbvf")], &[]);
        s.netdev.master = Some("bond0".parse().unwrap());
        assert!(plan(&c, &s, &x, Phase::Post, false).unwrap().is_empty());
        let inp = Input {
            cfg: &c,
            state: &s,
            bond: None,
            await_bond: true,
        };
        let n = notes(&inp, &x, &[]);
        assert_eq!(n.len(), 1, "{n:?}");
        assert!(n[0].0);
        assert!(
            n[0].1
                .starts_with("p0: mtu = 9000 (c.toml:1) is not set: p0 is a slave of bond0"),
            "{n:?}"
        );
    }

    fn mtu(m: u32) -> VfConfig {
        VfConfig {
            mtu: Some(m),
            ..VfConfig::default()
        }
    }

    #[test]
    fn vf_mtu_is_set_after_binding_and_a_vf_without_netdev_is_noted_not_planned() {
        let c = cfg(
            3,
            drv("igbvf"),
            &[
                (0, mtu(9000)),
                (
                    1,
                    VfConfig {
                        mtu: Some(9000),
                        bind: Some(drv("vfio-pci")),
                        ..VfConfig::default()
                    },
                ),
            ],
        );
        let fresh = igb(&[], &[]);
        assert_eq!(
            plan(&c, &fresh, &Facts::default(), Phase::Post, false).unwrap(),
            [
                "p0: set sriov_drivers_autoprobe to 0",
                "p0: set sriov_numvfs to 3",
                "p0: bind VFs 0,2 to igbvf",
                "p0: bind VFs 1 to vfio-pci",
                "p0: set sriov_drivers_autoprobe to 1",
                "p0: set MTU 9000 on VF 0's netdev (named when the step runs)",
            ]
        );
        let s = igb(&[Some("igbvf"), Some("vfio-pci"), Some("igbvf")], &[]);
        let mut x = Facts::default();
        x.mtu.insert("vf0".parse().unwrap(), 1500);
        assert_eq!(
            plan(&c, &s, &x, Phase::Post, false).unwrap(),
            ["p0: set MTU 9000 on VF 0 netdev vf0"]
        );
        // vf-pre leaves VF netdevs to vf-post
        assert!(plan(&c, &s, &x, Phase::Pre, false).unwrap().is_empty());
        x.mtu.insert("vf0".parse().unwrap(), 9000);
        assert!(plan(&c, &s, &x, Phase::Post, false).unwrap().is_empty());
        let inp = Input {
            cfg: &c,
            state: &s,
            bond: None,
            await_bond: true,
        };
        assert_eq!(
            notes(&inp, &x, &[]),
            [(
                false,
                "p0: VF 1 mtu 9000 not set: it has no netdev in this network namespace (bound to vfio-pci); whoever owns it sets its MTU".to_string()
            )]
        );
    }
}
