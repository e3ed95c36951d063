//! Running one step against the host: sysfs through the host model, netlink through the
//! kernel facade, OVSDB through its client; the waits block on kernel events until the
//! run's deadline.

use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::ovs;
use crate::config::ProbeJobs;
use crate::host::{errno_of, Host};
use crate::kernel::Kernel;
use crate::observe::{self, PfState};
use crate::plan::Step;
use crate::probe;
use crate::types::{GuidKind, IfName};
use crate::wait::Waiter;

pub(super) fn exec(
    host: &Host,
    kernel: &mut Kernel,
    step: &Step,
    pf: &PfState,
    probe_jobs: ProbeJobs,
    deadline: Instant,
) -> Result<()> {
    let nd = host.netdev(&pf.name);
    match step {
        Step::Autoprobe { on, .. } => host.pf_device(&pf.name)?.set_autoprobe(*on),
        Step::NumVfs { count, .. } => {
            let r = host.pf_device(&pf.name)?.set_numvfs(*count);
            if let Err(e) = &r {
                if errno_of(e) == Some(nix::errno::Errno::EBUSY as i32) {
                    return r.context(format!(
                        "{}: the kernel refused to change the VF count (EBUSY): VFs still exist or a VF driver holds them",
                        pf.name
                    ));
                }
            }
            r.with_context(|| format!("{}: setting {count} VFs", pf.name))
        }
        Step::Unbind { vf, driver, .. } => {
            let dev = host.pf_device(&pf.name)?.vf(*vf)?;
            host.pci_driver(driver)
                .unbind(&dev)
                .with_context(|| format!("{}: VF {vf}", pf.name))
        }
        Step::Eswitch { mode, modes, .. } => kernel.set_eswitch(
            pf.eswitch_source.as_ref(),
            &pf.devlink(),
            &nd,
            Some(*mode),
            *modes,
        ),
        Step::EswitchModes { modes, .. } => {
            kernel.set_eswitch(pf.eswitch_source.as_ref(), &pf.devlink(), &nd, None, *modes)
        }
        Step::DevlinkParam {
            name, cmode, value, ..
        } => kernel
            .set_devlink_param(&pf.devlink(), name, *cmode, value)
            .with_context(|| format!("{}: devlink param {name}", pf.name)),
        Step::DevlinkReload { .. } => reload(host, kernel, pf, deadline),
        Step::VfProps { vf, cfg, .. } => kernel.set_vf(&pf.name, *vf, cfg),
        Step::WaitSlaves { .. } | Step::WaitLag { .. } | Step::WaitReps { .. } => {
            bail!("internal: a wait step run without its waiter: {step}")
        }
        Step::Guid { vf, kind, guid, .. } => {
            // decided again here: a PF without VFs at planning time (this run created them)
            let dev = host.pf_device(&pf.name)?;
            if dev.has_vf_guid_files() && *kind == GuidKind::Port && !dev.has_vf_port_guid_file() {
                bail!(
                    "{}: cannot set the port GUID of VF {vf}: it is an Ethernet port, whose MLNX_OFED files give VFs node GUIDs only ({} is not there); port GUIDs are an InfiniBand port's: remove port_guids",
                    pf.name,
                    dev.vf_guid_file(*vf, *kind).display()
                )
            } else if dev.has_vf_guid_files() {
                dev.set_vf_guid(*vf, *kind, *guid)
            } else if kernel.is_real() && !pf.no_netdev {
                kernel.set_vf_guid(&pf.name, *vf, *kind, *guid)
            } else {
                bail!(
                    "{}: cannot set the IB GUIDs of its VFs: there is no {} and rtnetlink is not used on a fixture tree",
                    pf.name,
                    dev.vf_guid_file(*vf, *kind).display()
                )
            }
        }
        Step::IbPolicy { vf, policy, .. } => super::ib::set_policy(host, kernel, pf, *vf, *policy),
        Step::Bind { vfs, driver, .. } => {
            host.pci_driver(driver)
                .require_loaded()
                .with_context(|| format!("{}: cannot bind VFs to {driver}", pf.name))?;
            // each VF's override + probe is a job of the PF's pool; `probe` says what the
            // kernel serialises
            let dev = host.pf_device(&pf.name)?;
            let jobs = probe::jobs(host, &dev, probe_jobs);
            probe::bind_vfs(&dev, vfs, driver, jobs.n)
                .with_context(|| format!("{} ({})", pf.name, jobs.why))
        }
        Step::Mtu { mtu, .. } => kernel
            .set_mtu(&nd, *mtu)
            .with_context(|| format!("{}: PF MTU (`mtu` of its [[pf]])", pf.name)),
        Step::VfMtu {
            vf, mtu, netdev, ..
        } => {
            // the VF's netdevs as they are now (this run may have bound it); none: a driver
            // without netdevs, nothing to set (plan::vf)
            let names = match netdev {
                Some(n) => vec![n.clone()],
                None => nd
                    .physical_device()?
                    .vf(*vf)?
                    .netdevs()?
                    .iter()
                    .map(|n| n.name().clone())
                    .collect(),
            };
            for n in &names {
                kernel
                    .set_mtu(&host.netdev(n), *mtu)
                    .with_context(|| format!("{}: VF {vf} netdev {n}", pf.name))?;
            }
            Ok(())
        }
        Step::HwTcOffload { .. } => {
            let on = |k: &mut Kernel, ifname: &IfName| {
                k.set_feature(ifname, "hw-tc-offload", true)
                    .with_context(|| format!("{ifname}: enabling hw-tc-offload"))
            };
            if kernel.feature(&pf.name, "hw-tc-offload")? != Some(true) {
                on(kernel, &pf.name)?;
            }
            // representors as they are now: this run may have created them
            for rep in observe::current_reps(host, kernel, pf)?.values() {
                if let Some(f) = kernel.feature_state(rep, "hw-tc-offload")? {
                    if f.changeable && !f.active {
                        on(kernel, rep)?;
                    }
                }
            }
            Ok(())
        }
        Step::OvsHwOffload { .. }
        | Step::OvsAddBridge { .. }
        | Step::OvsDetach { .. }
        | Step::OvsReattach { .. }
        | Step::OvsPorts { .. } => ovs::exec(host, kernel, step, pf),
    }
}

/// `devlink dev reload`, then the wait for the PF's netdev: the driver unregisters it and
/// registers a new one, which udev may rename to the PF's name only after the reload returns.
/// The later steps find the PF by its netdev.
fn reload(host: &Host, kernel: &mut Kernel, pf: &PfState, deadline: Instant) -> Result<()> {
    // subscribed before the reload, so no event of the new netdev is missed
    let mut waiter = Waiter::new(host)?;
    kernel
        .devlink_reload(&pf.devlink())
        .with_context(|| format!("{}: applying its driverinit parameters", pf.name))?;
    waiter.until(
        &format!("{} to be back after the driver reload", pf.name),
        deadline,
        || {
            let nd = host.netdev(&pf.name);
            if !nd.exists() {
                return Ok(Some(vec![format!(
                    "netdev {} (the driver's new netdev has another name, not renamed yet?)",
                    pf.name
                )]));
            }
            Ok(match nd.device()? {
                Some(d) if d.name() == pf.dev_name => None,
                other => Some(vec![format!(
                    "netdev {} on {} (it is on {})",
                    pf.name,
                    pf.dev_name,
                    other.map_or("no device".into(), |d| d.name().to_string())
                )]),
            })
        },
    )
}

pub(super) fn exec_wait(
    host: &Host,
    kernel: &mut Kernel,
    waiter: &mut Waiter,
    deadline: Instant,
    step: &Step,
    pf: &PfState,
    probe_jobs: ProbeJobs,
) -> Result<()> {
    match step {
        Step::WaitSlaves { bond, slaves, .. } => {
            let names: Vec<&str> = slaves.iter().map(IfName::as_str).collect();
            waiter.until(
                &format!("{bond} to enslave {}", names.join(", ")),
                deadline,
                || {
                    let mut missing = vec![];
                    for s in slaves {
                        let nd = host.netdev(s);
                        if !nd.exists() {
                            missing.push(format!("{s} (no such interface)"));
                            continue;
                        }
                        match nd.master()? {
                            Some(m) if &m == bond => {}
                            Some(m) => missing.push(format!("{s} (enslaved to {m})")),
                            None => missing.push(format!("{s} (not enslaved)")),
                        }
                    }
                    Ok((!missing.is_empty()).then_some(missing))
                },
            )
        }
        Step::WaitLag { bond, .. } => {
            // a state that cannot appear is an error now, not a timeout later
            if let Some(why) = host.mlx5_lag_state_missing(&pf.dev_name) {
                bail!("{}: cannot wait for VF LAG of {bond}: {why}", pf.name);
            }
            let path = host.mlx5_lag_state_file(&pf.dev_name);
            waiter.until(
                &format!("VF LAG of {bond} on {}", pf.name),
                deadline,
                || {
                    let st = host.mlx5_lag_state(&pf.dev_name)?;
                    Ok((st.as_deref() != Some("active")).then(|| {
                        vec![format!(
                            "{} reads {}",
                            path.display(),
                            st.map_or(
                                "nothing (file absent: debugfs not mounted or not an mlx5 PF)"
                                    .into(),
                                |s| format!("{s:?}")
                            )
                        )]
                    }))
                },
            )
        }
        Step::WaitReps { vfs, .. } => {
            // present and, where udev runs, processed by it: a representor's name is final only
            // once its rules ran (renaming `eth4` to `ens1f0_pf0vf0`), and every later step and
            // the VF map use names
            let udev = host.udev_running();
            waiter.until(&format!("representors of {}", pf.name), deadline, || {
                let reps = observe::current_reps(host, kernel, pf)?;
                let mut missing = vec![];
                for v in vfs {
                    match reps.get(v) {
                        None => missing.push(format!("representor of VF {v}")),
                        Some(r) if udev && !host.udev_initialized(r)? => missing.push(format!(
                            "representor {r} of VF {v} (udev has not processed it yet)"
                        )),
                        Some(_) => {}
                    }
                }
                Ok((!missing.is_empty()).then_some(missing))
            })
        }
        Step::Bind { vfs, .. } => {
            exec(host, kernel, step, pf, probe_jobs, deadline)?;
            if !host.udev_running() {
                return Ok(());
            }
            // the VF netdevs the probes made get their final names from udev: wait for that,
            // so the VF map and the steps after this one see them
            let dev = host.netdev(&pf.name).physical_device()?;
            waiter.until(
                &format!("udev to name the VF netdevs of {}", pf.name),
                deadline,
                || {
                    let mut missing = vec![];
                    for v in vfs {
                        for nd in dev.vf(*v)?.netdevs()? {
                            if !host.udev_initialized(nd.name())? {
                                missing.push(format!(
                                    "VF {v} netdev {} (udev has not processed it yet)",
                                    nd.name()
                                ));
                            }
                        }
                    }
                    Ok((!missing.is_empty()).then_some(missing))
                },
            )
        }
        _ => exec(host, kernel, step, pf, probe_jobs, deadline),
    }
}
