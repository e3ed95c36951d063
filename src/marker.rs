//! Readiness markers under /run/sriov-offload: `ready` (JSON: boot id, time, PFs) or `failed`
//! (with the error), written atomically; `wait` blocks on inotify until one of this boot's
//! appears. A marker from another boot (a /run that survived, a copied tree) is ignored.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use serde::{Deserialize, Serialize};

use crate::host::{Host, RunFile};
use crate::log::Log;
use crate::types::{IfName, PciAddr};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PfSummary {
    pub name: IfName,
    pub device: String,
    pub vfs: u32,
    pub eswitch: Option<String>,
    pub representors: usize,
    pub bound: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Marker {
    pub boot_id: String,
    /// Seconds since the epoch.
    pub time: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pfs: Vec<PfSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub fn ready_path(host: &Host) -> PathBuf {
    host.run_dir().file(RunFile::Ready)
}
pub fn failed_path(host: &Host) -> PathBuf {
    host.run_dir().file(RunFile::Failed)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn read(host: &Host, f: RunFile) -> Result<Option<Marker>> {
    match host.run_dir().read(f)? {
        None => Ok(None),
        Some(s) => match serde_json::from_str(&s) {
            Ok(m) => Ok(Some(m)),
            // a legacy/foreign file is not ours: treat as absent rather than fail waits
            Err(_) => Ok(None),
        },
    }
}

/// The legacy marker is best effort: consumers not yet migrated may look at it, but a
/// failure on it (something planted at its path under /tmp) never stops configuration or
/// the real markers. It is logged, naming the path.
fn legacy_best_effort<T>(log: &Log, what: &str, r: Result<T>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            log.warn(&format!("legacy marker: {what}: {e:#}"));
            None
        }
    }
}

/// Writes the ready marker (unless this boot's identical one is there), removes `failed`,
/// and touches the legacy marker if configured. Returns whether anything was written.
pub fn write_ready(
    host: &Host,
    pfs: Vec<PfSummary>,
    legacy: Option<&Path>,
    log: &Log,
) -> Result<bool> {
    let boot_id = host.boot_id()?;
    let mut wrote = host.run_dir().remove(RunFile::Failed)?;
    wrote |= host.run_dir().remove(RunFile::Pending)?;
    let current = read(host, RunFile::Ready)?;
    if !current
        .as_ref()
        .is_some_and(|m| m.boot_id == boot_id && m.pfs == pfs && m.error.is_none())
    {
        let m = Marker {
            boot_id,
            time: now(),
            pfs,
            error: None,
        };
        let json = serde_json::to_vec_pretty(&m).context("encoding ready marker")?;
        host.run_dir().write_atomic(RunFile::Ready, &json)?;
        wrote = true;
    }
    if let Some(l) = legacy {
        let r = host.legacy_marker(l).touch();
        wrote |= legacy_best_effort(log, "not created", r).unwrap_or(false);
    }
    Ok(wrote)
}

/// Records a failure: `failed` with the error, and no `ready` (nor legacy marker) left
/// claiming all is well.
pub fn write_failed(host: &Host, error: &str, legacy: Option<&Path>, log: &Log) -> Result<()> {
    let m = Marker {
        boot_id: host.boot_id().unwrap_or_default(),
        time: now(),
        pfs: vec![],
        error: Some(error.to_string()),
    };
    host.run_dir().remove(RunFile::Ready)?;
    host.run_dir().remove(RunFile::Pending)?;
    let json = serde_json::to_vec_pretty(&m).context("encoding failed marker")?;
    host.run_dir().write_atomic(RunFile::Failed, &json)?;
    if let Some(l) = legacy {
        legacy_best_effort(log, "not removed", host.legacy_marker(l).remove());
    }
    Ok(())
}

/// Forgets markers of an earlier boot and a stale legacy marker, so nobody takes them for
/// this boot's. Called at the start of a run.
pub fn clear_stale(host: &Host, legacy: Option<&Path>, log: &Log) -> Result<()> {
    let boot_id = host.boot_id()?;
    let ready = read(host, RunFile::Ready)?;
    if ready.as_ref().is_some_and(|m| m.boot_id != boot_id) {
        host.run_dir().remove(RunFile::Ready)?;
    }
    for f in [RunFile::Failed, RunFile::Pending] {
        if read(host, f)?.is_some_and(|m| m.boot_id != boot_id) {
            host.run_dir().remove(f)?;
        }
    }
    let run = host.run_dir();
    for n in run.pf_names()? {
        let this_boot = run
            .read_pf(&n)?
            .and_then(|t| serde_json::from_str::<PfMarker>(&t).ok())
            .is_some_and(|m| m.boot_id == boot_id);
        if !this_boot {
            run.remove_pf(&n)?;
        }
    }
    if let Some(l) = legacy {
        if ready.is_none_or(|m| m.boot_id != boot_id) {
            legacy_best_effort(log, "not removed", host.legacy_marker(l).remove());
        }
    }
    Ok(())
}

/// Takes back `ready` while PFs are re-applied (or gone): `pending` names them and why, and
/// `ready` (with the legacy marker) is removed, so nobody waiting sees a ready host that is
/// not. Returns false (writing nothing) when this boot's `ready` does not exist: then there is
/// nothing to take back.
pub fn withdraw(
    host: &Host,
    items: &[Withdrawal],
    legacy: Option<&Path>,
    log: &Log,
) -> Result<bool> {
    withdraw_pfs(host, items)?;
    let boot_id = host.boot_id()?;
    if read(host, RunFile::Ready)?.is_none_or(|m| m.boot_id != boot_id) {
        return Ok(false);
    }
    let why: Vec<&str> = items.iter().map(|w| w.why.as_str()).collect();
    let m = Marker {
        boot_id,
        time: now(),
        pfs: vec![],
        error: Some(why.join("; ")),
    };
    let json = serde_json::to_vec_pretty(&m).context("encoding pending marker")?;
    host.run_dir().write_atomic(RunFile::Pending, &json)?;
    host.run_dir().remove(RunFile::Ready)?;
    if let Some(l) = legacy {
        legacy_best_effort(log, "not removed", host.legacy_marker(l).remove());
    }
    Ok(true)
}

/// One configured PF's state (`pf/<name>`): `ready` says it for the whole host, this per PF, so
/// a consumer (or `status`) sees which PF is being re-applied while the others keep working.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PfReadiness {
    /// Fully configured as of the last run that looked at it.
    Ready,
    /// Re-appeared (or found changed) and being re-applied; `why` says what is left.
    Pending,
    /// Its device went away (udev `remove`: driver unbind, firmware reset, hot unplug).
    Gone,
}

impl std::fmt::Display for PfReadiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PfReadiness::Ready => "ready",
            PfReadiness::Pending => "pending",
            PfReadiness::Gone => "gone",
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PfMarker {
    pub boot_id: String,
    pub time: u64,
    pub state: PfReadiness,
    /// The `[[pf]]` match, which finds this file again when the PF is gone and has no name.
    #[serde(rename = "match")]
    pub matcher: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<PfSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// This boot's per-PF states, by PF name.
pub fn pf_states(host: &Host) -> Result<Vec<(IfName, PfMarker)>> {
    let boot_id = host.boot_id()?;
    let run = host.run_dir();
    let mut out = vec![];
    for n in run.pf_names()? {
        let Some(text) = run.read_pf(&n)? else {
            continue;
        };
        if let Ok(m) = serde_json::from_str::<PfMarker>(&text) {
            if m.boot_id == boot_id {
                out.push((n, m));
            }
        }
    }
    Ok(out)
}

/// Sets one PF's state; writes nothing when this boot's file already says the same (its time
/// aside), so a run that changes nothing writes nothing. True when written.
pub fn set_pf_state(
    host: &Host,
    pf: &IfName,
    matcher: &str,
    state: PfReadiness,
    summary: Option<PfSummary>,
    why: Option<String>,
) -> Result<bool> {
    let boot_id = host.boot_id()?;
    let run = host.run_dir();
    let m = PfMarker {
        boot_id,
        time: now(),
        state,
        matcher: matcher.to_string(),
        summary,
        why,
    };
    let current = run
        .read_pf(pf)?
        .and_then(|t| serde_json::from_str::<PfMarker>(&t).ok());
    if current.is_some_and(|c| PfMarker { time: m.time, ..c } == m) {
        return Ok(false);
    }
    let json = serde_json::to_vec_pretty(&m).context("encoding PF state")?;
    run.write_pf(pf, &json)?;
    Ok(true)
}

/// What takes one PF's `ready` back: by name, or by its match when it is gone (no netdev).
pub struct Withdrawal {
    pub pf: Option<IfName>,
    pub matcher: String,
    pub state: PfReadiness,
    pub why: String,
}

/// Per PF: a PF whose state file (this boot's) says ready now says pending or gone. Returns the
/// files written.
fn withdraw_pfs(host: &Host, items: &[Withdrawal]) -> Result<u32> {
    let states = pf_states(host)?;
    let mut wrote = 0;
    for w in items {
        let found = states.iter().find(|(n, m)| match &w.pf {
            Some(p) => n == p,
            None => m.matcher == w.matcher,
        });
        let Some((name, m)) = found else { continue };
        if m.state == PfReadiness::Ready
            && set_pf_state(host, name, &m.matcher, w.state, None, Some(w.why.clone()))?
        {
            wrote += 1;
        }
    }
    Ok(wrote)
}

#[derive(Debug, PartialEq)]
pub enum Status {
    Ready(Marker),
    Failed(Marker),
    Pending,
}

/// This boot's status. `failed` wins over `ready` (a later run failed).
pub fn status(host: &Host) -> Result<Status> {
    let boot_id = host.boot_id()?;
    if let Some(m) = read(host, RunFile::Failed)?.filter(|m| m.boot_id == boot_id) {
        return Ok(Status::Failed(m));
    }
    if let Some(m) = read(host, RunFile::Ready)?.filter(|m| m.boot_id == boot_id) {
        return Ok(Status::Ready(m));
    }
    // `pending` (ready withdrawn while a PF is re-applied) is still "not ready": waiters wait
    Ok(Status::Pending)
}

/// The status of some PFs only: `failed` (this boot's) wins; ready when every one of them is,
/// by its own state file or by this boot's whole-host `ready` naming it.
pub fn pf_status(host: &Host, pfs: &[IfName]) -> Result<Status> {
    let st = status(host)?;
    match &st {
        Status::Failed(_) => return Ok(st),
        Status::Ready(m) if pfs.iter().all(|p| m.pfs.iter().any(|s| &s.name == p)) => {
            return Ok(st)
        }
        _ => {}
    }
    let states = pf_states(host)?;
    let mut summaries = vec![];
    let mut time = 0;
    for p in pfs {
        match states.iter().find(|(n, _)| n == p) {
            Some((_, m)) if m.state == PfReadiness::Ready => {
                summaries.extend(m.summary.clone());
                time = time.max(m.time);
            }
            _ => return Ok(Status::Pending),
        }
    }
    Ok(Status::Ready(Marker {
        boot_id: host.boot_id()?,
        time,
        pfs: summaries,
        error: None,
    }))
}

/// Blocks until this boot's marker exists or `timeout` passes (`Pending`). inotify is set up
/// before the first look, so a marker written in between is not missed.
pub fn wait(host: &Host, timeout: Duration) -> Result<Status> {
    wait_for(host, timeout, status)
}

/// [`wait`] for some PFs only ([`pf_status`]).
pub fn wait_pfs(host: &Host, pfs: &[IfName], timeout: Duration) -> Result<Status> {
    wait_for(host, timeout, |h| pf_status(h, pfs))
}

fn wait_for(
    host: &Host,
    timeout: Duration,
    status: impl Fn(&Host) -> Result<Status>,
) -> Result<Status> {
    let run = host.run_dir();
    // root makes the directory for the units that come after; anyone else (a non-root
    // consumer) watches the parent until the first run creates it
    let _ = run.create();
    let d = run.path();
    let ino =
        Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).context("inotify_init")?;
    let files =
        AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_CREATE;
    let mut watching_dir = false;
    let parent = d.parent().unwrap_or(d);
    let mut watch = |ino: &Inotify| -> Result<()> {
        if watching_dir {
            return Ok(());
        }
        match ino.add_watch(d, files) {
            Ok(_) => watching_dir = true,
            Err(nix::errno::Errno::ENOENT) => {
                ino.add_watch(
                    parent,
                    AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO,
                )
                .with_context(|| format!("watching {} for {}", parent.display(), d.display()))?;
                // it may have appeared between the two calls
                if d.is_dir() {
                    ino.add_watch(d, files)
                        .with_context(|| format!("watching {}", d.display()))?;
                    watching_dir = true;
                }
            }
            Err(e) => return Err(e).with_context(|| format!("watching {}", d.display())),
        }
        Ok(())
    };
    // the per-PF files live in `pf/`, which the first vf-post to publish creates
    let pf_dir = d.join("pf");
    let mut watching_pf = false;
    let mut watch_pf = |ino: &Inotify| -> Result<()> {
        if !watching_pf && pf_dir.is_dir() {
            ino.add_watch(&pf_dir, files)
                .with_context(|| format!("watching {}", pf_dir.display()))?;
            watching_pf = true;
        }
        Ok(())
    };
    watch(&ino)?;
    watch_pf(&ino)?;
    let deadline = Instant::now() + timeout;
    loop {
        let st = status(host)?;
        if st != Status::Pending {
            return Ok(st);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Status::Pending);
        }
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(&ino),
            PollFlags::POLLIN,
        )];
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e).context("waiting on inotify"),
        }
        // drain; the content of the events does not matter, the files do
        while let Ok(ev) = ino.read_events() {
            if ev.is_empty() {
                break;
            }
        }
        watch(&ino)?;
        watch_pf(&ino)?;
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MapEntry {
    pub pf: IfName,
    pub vf: u32,
    pub pci: Option<PciAddr>,
    pub netdev: Option<IfName>,
    pub representor: Option<IfName>,
    /// The OVS bridge the representor is a port of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ovs_bridge: Option<String>,
    pub mac: Option<String>,
    pub reserved: bool,
}

pub fn map_path(host: &Host) -> PathBuf {
    host.run_dir().file(RunFile::VfMap)
}

/// Publishes the VF ↔ representor map, only if it changed.
pub fn write_map(host: &Host, map: &[MapEntry]) -> Result<bool> {
    let json = serde_json::to_vec_pretty(map).context("encoding VF map")?;
    let run = host.run_dir();
    if run.read_bytes(RunFile::VfMap).ok().flatten().as_deref() == Some(json.as_slice()) {
        return Ok(false);
    }
    run.write_atomic(RunFile::VfMap, &json)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> Log {
        Log::new("test", false)
    }

    fn host() -> (tempfile::TempDir, Host) {
        let d = tempfile::tempdir().unwrap();
        let h = Host::new(d.path().to_path_buf());
        std::fs::create_dir_all(d.path().join("proc/sys/kernel/random")).unwrap();
        std::fs::write(d.path().join("proc/sys/kernel/random/boot_id"), "b1\n").unwrap();
        (d, h)
    }

    #[test]
    fn marker_of_another_boot_is_not_ready() {
        let (d, h) = host();
        write_ready(&h, vec![], None, &log()).unwrap();
        assert!(matches!(status(&h).unwrap(), Status::Ready(_)));
        std::fs::write(d.path().join("proc/sys/kernel/random/boot_id"), "b2\n").unwrap();
        assert_eq!(status(&h).unwrap(), Status::Pending);
        clear_stale(&h, None, &log()).unwrap();
        assert!(!h.exists(&ready_path(&h)));
    }

    #[test]
    fn failure_replaces_ready_and_legacy() {
        let (_d, h) = host();
        let legacy = Path::new("/tmp/vf_done.offload");
        std::fs::create_dir_all(h.abs(Path::new("/tmp"))).unwrap();
        write_ready(&h, vec![], Some(legacy), &log()).unwrap();
        assert!(h.exists(&h.abs(legacy)));
        write_failed(&h, "boom", Some(legacy), &log()).unwrap();
        assert!(!h.exists(&h.abs(legacy)) && !h.exists(&ready_path(&h)));
        match status(&h).unwrap() {
            Status::Failed(m) => assert_eq!(m.error.as_deref(), Some("boom")),
            s => panic!("{s:?}"),
        }
    }

    #[test]
    fn second_identical_ready_writes_nothing() {
        let (_d, h) = host();
        assert!(write_ready(&h, vec![], None, &log()).unwrap());
        assert!(!write_ready(&h, vec![], None, &log()).unwrap());
    }

    #[test]
    fn wait_wakes_on_marker_from_another_thread() {
        let (d, h) = host();
        let root = d.path().to_path_buf();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            write_ready(&Host::new(root), vec![], None, &log()).unwrap();
        });
        let st = wait(&h, Duration::from_secs(10)).unwrap();
        t.join().unwrap();
        assert!(matches!(st, Status::Ready(_)));
    }

    #[test]
    fn per_pf_state_withdraws_only_the_pf_named_and_finds_a_gone_one_by_its_match() {
        let (d, h) = host();
        let a: IfName = "ens1f0".parse().unwrap();
        let b: IfName = "ens1f1".parse().unwrap();
        for (n, m) in [(&a, "name ens1f0"), (&b, "pci 0000:3b:00.1")] {
            assert!(set_pf_state(&h, n, m, PfReadiness::Ready, None, None).unwrap());
            // the same state again: nothing written
            assert!(!set_pf_state(&h, n, m, PfReadiness::Ready, None, None).unwrap());
        }
        write_ready(&h, vec![], None, &log()).unwrap();
        let gone = Withdrawal {
            pf: None,
            matcher: "pci 0000:3b:00.1".into(),
            state: PfReadiness::Gone,
            why: "configured PF (pci 0000:3b:00.1) is gone".into(),
        };
        assert!(withdraw(&h, &[gone], None, &log()).unwrap());
        let states = pf_states(&h).unwrap();
        assert_eq!(states[0].1.state, PfReadiness::Ready, "{states:?}");
        assert_eq!(states[1].0, b);
        assert_eq!(states[1].1.state, PfReadiness::Gone);
        assert_eq!(status(&h).unwrap(), Status::Pending);
        // a consumer of ens1f0's VFs is not held back by ens1f1's re-apply; one of both is
        assert!(matches!(
            pf_status(&h, std::slice::from_ref(&a)).unwrap(),
            Status::Ready(_)
        ));
        assert_eq!(
            pf_status(&h, &[a.clone(), b.clone()]).unwrap(),
            Status::Pending
        );
        let t = std::thread::spawn({
            let root = d.path().to_path_buf();
            let b = b.clone();
            move || {
                std::thread::sleep(Duration::from_millis(50));
                let h = Host::new(root);
                set_pf_state(&h, &b, "pci 0000:3b:00.1", PfReadiness::Ready, None, None).unwrap();
            }
        });
        let st = wait_pfs(&h, &[a.clone(), b.clone()], Duration::from_secs(10)).unwrap();
        t.join().unwrap();
        assert!(matches!(st, Status::Ready(_)), "{st:?}");
        // another boot's per-PF files are forgotten like its markers
        std::fs::write(d.path().join("proc/sys/kernel/random/boot_id"), "b2\n").unwrap();
        assert!(pf_states(&h).unwrap().is_empty());
        clear_stale(&h, None, &log()).unwrap();
        assert!(h.run_dir().pf_names().unwrap().is_empty());
    }

    #[test]
    fn wait_times_out_pending() {
        let (_d, h) = host();
        let st = wait(&h, Duration::from_millis(30)).unwrap();
        assert_eq!(st, Status::Pending);
    }
}
