//! Binding a PF's VFs to their driver many at once: each VF's `driver_override` + probe is one
//! job of a bounded pool (`[defaults] probe_jobs`), every job runs whatever the others do, and
//! the results come back in VF order.
//!
//! Why: on a ConnectX host a VF probe is firmware-bound — mlx5 waits hundreds of milliseconds on
//! firmware commands per VF, so 32–127 VFs probed one after the other take tens of seconds.
//! The driver core probes different devices concurrently, so overlapping those waits is the one
//! way below the sequential floor.
//!
//! What the kernel serialises and what it does not (Linux 6.12, `drivers/pci`, `drivers/base`):
//!
//! - **VF creation** (`sriov_numvfs`): the write holds the PF's device lock and, around the
//!   driver's `sriov_configure`, the PCI core's global `pci_rescan_remove_lock`
//!   (`sriov_numvfs_store` in `iov.c`). Creating or removing VFs on one PF excludes it on every
//!   other PF (and PCI rescan, removal, hot-plug): the apply stage writes both PFs' counts side
//!   by side, but the kernel runs them one after the other (the benchmark measures 0.99×).
//! - **Binding** (this module): `driver_override` and `drivers_probe` take only the VF's own
//!   device lock; the write to `drivers_probe` returns when the probe is done. Probes of
//!   different VFs, of one PF or of several, run concurrently. `pci_call_probe` runs the probe
//!   of a device with a NUMA node in a kernel worker on a CPU of that node (`work_on_cpu`): what
//!   parallel binding overlaps is mostly the time a probe *waits* (firmware), not CPU work. A
//!   probe failing is no error of the write (the driver core returns it as "no match"):
//!   [`Device::bind`] checks the bound driver afterwards.
//! - **Inside a probe**, the driver's own locks: `register_netdev` takes the RTNL (briefly), and
//!   a VF's devlink instance has its own lock. Nothing holds a lock over another VF's probe.
//! - **eswitch mode** (devlink): the PF's devlink instance lock; other PFs go on.
//! - **Representor and LAG waits**: the kernel creates representors and activates the LAG on
//!   its own; `apply` waits for them on events, and in the meantime the kernel works on every
//!   PF. A PF's binding starts once every PF's waits are over (the stages of `apply`).
//! - **IB GUIDs**: one sysfs file per VF of the PF (a firmware command each on mlx5), written by
//!   the PF's own worker while other PFs' workers run.
//!
//! Each PF has its own pool and PFs run side by side (`apply::Executor::side_by_side`), so at
//! most the sum of the PFs' jobs probe at once.

use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Result;

use crate::config::ProbeJobs;
use crate::cpuset::show;
use crate::host::{Device, Host};
use crate::observe::irq::{local_cpus, Cpus};

/// `auto`: at least this many jobs per PF, even where few CPUs are local — the jobs mostly
/// wait on firmware, which overlaps on any host.
pub const AUTO_MIN: usize = 4;
/// `auto`: at most this many: past it the firmware rather than the host is the limit, and
/// every job is a thread.
pub const AUTO_MAX: usize = 16;

/// A job's thread does a handful of sysfs writes with error contexts: a small stack is plenty
/// and keeps the pool's memory small.
const STACK: usize = 256 * 1024;

/// How many VFs of one PF are probed at once, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jobs {
    pub n: usize,
    /// `probe_jobs = 4`, `auto: 2 local CPUs (local_cpulist, NUMA node 1)`, …
    pub why: String,
}

/// `auto` for a PF with `local` NUMA-local online CPUs.
pub fn auto_jobs(local: usize) -> usize {
    local.clamp(AUTO_MIN, AUTO_MAX)
}

/// Resolves `probe_jobs` for the PF `pf`. `auto` takes the PF's NUMA-local online CPUs the way
/// irq-tune does ([`local_cpus`]: `local_cpulist` or the node's cpulist, all online CPUs when
/// the firmware gives no locality); where even the online CPUs cannot be read (a fixture tree),
/// the minimum.
pub fn jobs(host: &Host, pf: &Device, setting: ProbeJobs) -> Jobs {
    match setting {
        ProbeJobs::Fixed(n) => Jobs {
            n: usize::from(n),
            why: format!("probe_jobs = {n}"),
        },
        ProbeJobs::Auto => match Cpus::read(host).and_then(|c| local_cpus(host, pf, &c)) {
            Ok(l) => Jobs {
                n: auto_jobs(l.cpus.len()),
                why: format!(
                    "probe_jobs = auto: {} local CPU(s) {} ({}), at least {AUTO_MIN}, at most {AUTO_MAX}",
                    l.cpus.len(),
                    show(&l.cpus),
                    l.fallback.as_deref().unwrap_or(&l.source)
                ),
            },
            Err(e) => Jobs {
                n: AUTO_MIN,
                why: format!("probe_jobs = auto: local CPUs unknown ({e:#}), so {AUTO_MIN}"),
            },
        },
    }
}

/// Runs `f` on every item, at most `jobs` at a time, and returns the results in the items'
/// order, whatever order they finished in. Every item runs: one failing (an `Err` result) does
/// not stop or delay the others. With `jobs` ≤ 1 or one item they run on this thread.
pub fn run_pool<T, R, F>(items: &[T], jobs: usize, f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    let workers = jobs.min(items.len());
    if workers <= 1 {
        return items.iter().map(&f).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = vec![];
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return done;
            };
            done.push((i, f(item)));
        }
    };
    let mut out: Vec<(usize, R)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map_while(|_| {
                // no thread (the host's limit): those started take every item
                std::thread::Builder::new()
                    .stack_size(STACK)
                    .spawn_scoped(s, work)
                    .ok()
            })
            .collect();
        // not one thread: this one does the work
        let mut all = if handles.is_empty() { work() } else { vec![] };
        for h in handles {
            match h.join() {
                Ok(v) => all.extend(v),
                Err(p) => std::panic::resume_unwind(p),
            }
        }
        all
    });
    // every index was taken exactly once (fetch_add), so sorting restores the items' order
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

/// Some VFs of a PF did not bind; the others did.
#[derive(Debug)]
pub struct BindFailures {
    pub driver: String,
    pub total: usize,
    pub jobs: usize,
    /// (VF index, error), by VF index.
    pub failed: Vec<(u32, String)>,
}

impl std::fmt::Display for BindFailures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} VFs did not bind to {} (the other {} did; {} at a time): ",
            self.failed.len(),
            self.total,
            self.driver,
            self.total - self.failed.len(),
            self.jobs
        )?;
        let each: Vec<String> = self
            .failed
            .iter()
            .map(|(vf, e)| format!("VF {vf}: {e}"))
            .collect();
        f.write_str(&each.join("; "))
    }
}

impl std::error::Error for BindFailures {}

/// Binds VFs `vfs` of the PF `pf` to `driver`, `jobs` at a time ([`Device::bind`] each: override,
/// probe, clear, check). Every VF is tried; the error names each VF that did not bind, in VF
/// order, with its own error.
pub fn bind_vfs(pf: &Device, vfs: &[u32], driver: &str, jobs: usize) -> Result<()> {
    let results = run_pool(vfs, jobs, |vf| pf.vf(*vf).and_then(|d| d.bind(driver)));
    let failed: Vec<(u32, String)> = vfs
        .iter()
        .zip(results)
        .filter_map(|(vf, r)| r.err().map(|e| (*vf, format!("{e:#}"))))
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    Err(BindFailures {
        driver: driver.to_string(),
        total: vfs.len(),
        jobs: jobs.clamp(1, vfs.len().max(1)),
        failed,
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    #[test]
    fn auto_is_the_local_cpus_between_4_and_16() {
        assert_eq!(auto_jobs(1), 4);
        assert_eq!(auto_jobs(2), 4);
        assert_eq!(auto_jobs(6), 6);
        assert_eq!(auto_jobs(16), 16);
        assert_eq!(auto_jobs(112), 16);
    }

    /// Counts jobs in flight; each job waits (bounded) until `want` are in flight at once, so a
    /// pool that runs fewer at a time is seen, and one that runs more is caught by the peak.
    struct Gauge {
        state: Mutex<(usize, usize)>, // (in flight, peak)
        cv: Condvar,
    }

    impl Gauge {
        fn new() -> Gauge {
            Gauge {
                state: Mutex::new((0, 0)),
                cv: Condvar::new(),
            }
        }
        fn job(&self, want: usize) {
            let mut s = self.state.lock().unwrap();
            s.0 += 1;
            s.1 = s.1.max(s.0);
            self.cv.notify_all();
            let (mut s, _) = self
                .cv
                .wait_timeout_while(s, Duration::from_secs(5), |s| s.1 < want)
                .unwrap();
            s.0 -= 1;
        }
        fn peak(&self) -> usize {
            self.state.lock().unwrap().1
        }
    }

    #[test]
    fn the_pool_runs_exactly_jobs_at_once_and_returns_results_in_item_order() {
        for (items, jobs) in [(14usize, 4usize), (7, 4), (3, 8), (16, 16), (5, 1)] {
            let g = Gauge::new();
            let v: Vec<usize> = (0..items).collect();
            let want = jobs.min(items);
            let out = run_pool(&v, jobs, |i| {
                g.job(want);
                i * 10
            });
            assert_eq!(out, (0..items).map(|i| i * 10).collect::<Vec<_>>());
            assert_eq!(g.peak(), want, "{items} items, {jobs} jobs");
        }
    }

    #[test]
    fn a_failing_item_does_not_stop_the_others() {
        let ran = AtomicUsize::new(0);
        let v: Vec<u32> = (0..9).collect();
        let out = run_pool(&v, 3, |i| {
            ran.fetch_add(1, Ordering::Relaxed);
            if i % 4 == 1 {
                Err(format!("VF {i} failed"))
            } else {
                Ok(*i)
            }
        });
        assert_eq!(ran.load(Ordering::Relaxed), 9);
        let errs: Vec<&String> = out.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(errs, ["VF 1 failed", "VF 5 failed"]);
    }

    #[test]
    fn no_items_no_threads() {
        let out: Vec<u8> = run_pool(&[] as &[u8], 4, |x| *x);
        assert!(out.is_empty());
    }

    #[test]
    fn failures_are_named_in_vf_order_with_their_errors() {
        let e = BindFailures {
            driver: "mlx5_core".into(),
            total: 32,
            jobs: 8,
            failed: vec![(3, "boom".into()), (17, "bang".into())],
        };
        assert_eq!(
            e.to_string(),
            "2 of 32 VFs did not bind to mlx5_core (the other 30 did; 8 at a time): VF 3: boom; VF 17: bang"
        );
    }
}
