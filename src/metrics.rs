//! Prometheus metrics (text exposition format 0.0.4): per configured PF the desired and
//! observed VFs, bound VFs, representors and whether it matches the config; this boot's
//! ready/failed marker; per boot binary its last run (duration, exit status, time) and its
//! runs and failures since boot.
//!
//! `sriov-offload metrics` prints them or writes `DIR/sriov_offload.prom` for node_exporter's
//! textfile collector. With `[metrics] textfile_dir` configured, vf-pre, vf-post and irq-tune
//! record each run (`/run/sriov-offload/runs.json`, tmpfs: counts start at 0 every boot) and
//! refresh that file; without it they write neither (a run whose config does not load is not
//! counted: the config says where metrics go).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::{Config, EswitchMode};
use crate::host::Host;
use crate::hostplan::plan_pfs;
use crate::kernel::Kernel;
use crate::log::Log;
use crate::marker::{self, Status};
use crate::observe::configured::{observe_configured, Configured};
use crate::select;

/// The file name node_exporter's textfile collector reads.
pub const TEXTFILE: &str = "sriov_offload.prom";

/// One boot binary's runs this boot.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ToolRuns {
    pub runs: u64,
    pub failures: u64,
    pub last_exit: u8,
    pub last_seconds: f64,
    /// Seconds since the epoch when the last run ended.
    pub last_end: u64,
}

/// `/run/sriov-offload/runs.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Runs {
    pub boot_id: String,
    pub tools: BTreeMap<String, ToolRuns>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// This boot's run record (empty before the first recorded run, or when the record is of
/// another boot or unreadable).
pub fn read_runs(host: &Host) -> Runs {
    let boot_id = host.boot_id().unwrap_or_default();
    host.read_runs()
        .ok()
        .flatten()
        .and_then(|s| serde_json::from_str::<Runs>(&s).ok())
        .filter(|r| r.boot_id == boot_id)
        .unwrap_or(Runs {
            boot_id,
            tools: BTreeMap::new(),
        })
}

/// Adds one run of `tool` to this boot's record.
pub fn record_run(host: &Host, tool: &str, took: Duration, exit: u8) -> Result<()> {
    let boot_id = host.boot_id()?;
    host.update_runs(|cur| {
        let mut r = cur
            .and_then(|s| serde_json::from_str::<Runs>(s).ok())
            .filter(|r| r.boot_id == boot_id)
            .unwrap_or_default();
        r.boot_id = boot_id.clone();
        let t = r.tools.entry(tool.to_string()).or_default();
        t.runs += 1;
        t.failures += u64::from(exit != 0);
        t.last_exit = exit;
        t.last_seconds = took.as_secs_f64();
        t.last_end = now();
        serde_json::to_vec_pretty(&r).context("encoding the run record")
    })
}

/// Label values are quoted strings: `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out {
    text: String,
}

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP sriov_offload_{name} {help}");
        let _ = writeln!(self.text, "# TYPE sriov_offload_{name} {kind}");
    }
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: impl std::fmt::Display) {
        let l: Vec<String> = labels
            .iter()
            .map(|(k, val)| format!("{k}=\"{}\"", label(val)))
            .collect();
        if l.is_empty() {
            let _ = writeln!(self.text, "sriov_offload_{name} {v}");
        } else {
            let _ = writeln!(self.text, "sriov_offload_{name}{{{}}} {v}", l.join(","));
        }
    }
}

/// The metrics of an observed host, its marker and its run record.
pub fn render(cfg: &Config, seen: &Configured, status: &Status, runs: &Runs) -> String {
    let mut o = Out {
        text: String::new(),
    };
    let plans = plan_pfs(cfg, &seen.state);
    // per PF: (pf, device) labels, then the values
    struct Row {
        pf: String,
        device: String,
        present: bool,
        want: u32,
        vfs: u32,
        bound: usize,
        reps_want: u32,
        reps: usize,
        matches: bool,
    }
    let mut rows: Vec<Row> = plans
        .iter()
        .map(|p| {
            let s = p.state;
            let want = u32::from(p.cfg.vfs);
            Row {
                pf: s.name.to_string(),
                device: s.dev_name.clone(),
                present: true,
                want,
                vfs: s.numvfs,
                bound: s.vfs.iter().filter(|v| v.driver.is_some()).count(),
                reps_want: if p.cfg.eswitch == Some(EswitchMode::Switchdev) {
                    want
                } else {
                    0
                },
                reps: s.reps.len(),
                matches: p.matches(),
            }
        })
        .collect();
    for u in &seen.unobserved {
        rows.push(Row {
            pf: u
                .name
                .as_ref()
                .map_or_else(|| u.cfg.matcher.to_string(), |n| n.to_string()),
            device: String::new(),
            present: false,
            want: u32::from(u.cfg.vfs),
            vfs: 0,
            bound: 0,
            reps_want: 0,
            reps: 0,
            matches: false,
        });
    }
    type Get = fn(&Row) -> String;
    let families: [(&str, &str, Get); 7] = [
        (
            "pf_present",
            "1 when the configured PF is on this host and readable.",
            |r| u8::from(r.present).to_string(),
        ),
        (
            "pf_matches_config",
            "1 when nothing is left to do for the PF (its plan is empty).",
            |r| u8::from(r.matches).to_string(),
        ),
        ("vfs_desired", "VFs the config asks for.", |r| {
            r.want.to_string()
        }),
        ("vfs", "VFs that exist (sriov_numvfs).", |r| {
            r.vfs.to_string()
        }),
        ("vfs_bound", "VFs bound to a driver.", |r| {
            r.bound.to_string()
        }),
        (
            "representors_desired",
            "VF representors expected (switchdev: one per VF).",
            |r| r.reps_want.to_string(),
        ),
        ("representors", "VF representors present.", |r| {
            r.reps.to_string()
        }),
    ];
    for (name, help, get) in families {
        o.family(name, "gauge", help);
        for r in &rows {
            o.sample(name, &[("pf", &r.pf), ("device", &r.device)], get(r));
        }
    }
    let (ready, failed, time) = match status {
        Status::Ready(m) => (1, 0, m.time),
        Status::Failed(m) => (0, 1, m.time),
        Status::Pending => (0, 0, 0),
    };
    o.family("ready", "gauge", "1 when this boot's ready marker exists.");
    o.sample("ready", &[], ready);
    o.family(
        "failed",
        "gauge",
        "1 when this boot's failed marker exists.",
    );
    o.sample("failed", &[], failed);
    o.family(
        "marker_timestamp_seconds",
        "gauge",
        "When this boot's ready or failed marker was written (0: none yet).",
    );
    o.sample("marker_timestamp_seconds", &[], time);
    let tools = ["vf-pre", "vf-post", "irq-tune"];
    let get = |t: &str| runs.tools.get(t).cloned().unwrap_or_default();
    type Tool = fn(&ToolRuns) -> String;
    let per_tool: [(&str, &str, &str, Tool); 5] = [
        ("runs_total", "counter", "Runs since boot.", |t| {
            t.runs.to_string()
        }),
        (
            "failures_total",
            "counter",
            "Runs since boot that exited non-zero.",
            |t| t.failures.to_string(),
        ),
        (
            "last_run_duration_seconds",
            "gauge",
            "Duration of the last run.",
            |t| format!("{:.3}", t.last_seconds),
        ),
        (
            "last_run_exit_status",
            "gauge",
            "Exit status of the last run.",
            |t| t.last_exit.to_string(),
        ),
        (
            "last_run_timestamp_seconds",
            "gauge",
            "When the last run ended (0: no run this boot).",
            |t| t.last_end.to_string(),
        ),
    ];
    for (name, kind, help, f) in per_tool {
        o.family(name, kind, help);
        for t in tools {
            o.sample(name, &[("tool", t)], f(&get(t)));
        }
    }
    o.text
}

/// Observes the configured host (no IRQs: the metrics do not need them) and renders.
pub fn collect(host: &Host, cfg: &Config) -> Result<String> {
    let mut kernel = Kernel::new(host);
    let resolved = select::resolve(host, cfg)?;
    let seen = observe_configured(host, &mut kernel, cfg, &resolved, false)?;
    let status = marker::status(host)?;
    Ok(render(cfg, &seen, &status, &read_runs(host)))
}

/// Writes `DIR/sriov_offload.prom` atomically; returns the path written.
pub fn write_textfile(host: &Host, dir: &Path, text: &str) -> Result<PathBuf> {
    host.write_textfile(dir, TEXTFILE, text.as_bytes())
}

/// After a boot binary's run: with `[metrics] textfile_dir` configured, records the run and
/// refreshes the textfile. Never changes the run's outcome: a failure here is a warning.
pub fn after_run(
    host: &Host,
    cfg: Option<&Config>,
    tool: &str,
    took: Duration,
    exit: u8,
    log: &Log,
) {
    let Some((cfg, dir)) = cfg.and_then(|c| Some((c, c.metrics_textfile_dir.as_deref()?))) else {
        return;
    };
    let res = record_run(host, tool, took, exit)
        .and_then(|()| collect(host, cfg))
        .and_then(|text| write_textfile(host, dir, &text));
    if let Err(e) = res {
        log.warn(&format!("metrics not refreshed: {e:#}"));
    }
}
