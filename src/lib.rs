//! sriov-offload: SR-IOV and switchdev bring-up for hypervisor hosts.
//!
//! `config` → `select` → `observe` → `plan` → `apply`. `host` (the typed host model: every
//! file under /sys, /proc and /run) and `kernel` (the facade over netlink) are the only code
//! touching the OS; `wait` and `marker` block on kernel events, never on timers.
//!
//! Readers over the same observed state: `hostplan` (every PF's plan, pure), `metrics`
//! (Prometheus text, refreshed by the boot binaries) and, at the top beside `cli`, `ops` (the
//! operator's `sriov-offload status | check | plan | metrics`).
pub mod apply;
pub mod cli;
pub mod config;
pub mod cpuset;
pub mod generate;
pub mod guid;
pub mod host;
pub mod hostplan;
pub mod irq;
pub mod kernel;
pub mod lock;
pub mod log;
pub mod marker;
pub mod metrics;
pub mod netlink;
pub mod networkd;
pub mod observe;
pub mod ops;
pub mod ovs;
pub mod ovsdb;
pub mod plan;
pub mod probe;
pub mod select;
pub mod types;
pub mod wait;
