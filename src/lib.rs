//! sriov-offload: SR-IOV and switchdev bring-up for hypervisor hosts.
pub mod config;
pub mod types;
