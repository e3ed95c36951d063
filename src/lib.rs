//! sriov-offload: SR-IOV and switchdev bring-up for hypervisor hosts.
//!
//! `config` → `select` → `observe` → `plan` → `apply`. `host` (the typed host model: every
//! file under /sys, /proc and /run) and `kernel` (the facade over netlink) are the only code
//! touching the OS; `wait` and `marker` block on kernel events, never on timers.
pub mod apply;
pub mod cli;
pub mod config;
pub mod cpuset;
pub mod generate;
pub mod guid;
pub mod host;
pub mod irq;
pub mod kernel;
pub mod lock;
pub mod log;
pub mod marker;
pub mod netlink;
pub mod observe;
pub mod plan;
pub mod probe;
pub mod select;
pub mod types;
pub mod wait;
