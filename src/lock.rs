//! Per-PF locks so udev, units and ifupdown hooks reaching the same PF serialise.

use std::fs::File;

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};

use crate::host::Host;

pub struct Locks {
    _held: Vec<Flock<File>>,
}

/// Takes the locks of all `devices` (PCI addresses / device names) in sorted order, so two
/// runs over overlapping sets cannot deadlock. Blocks while another run holds one: that run
/// is bounded by its own deadline.
pub fn lock_all(host: &Host, devices: &[String], mut on_wait: impl FnMut(&str)) -> Result<Locks> {
    let run = host.run_dir();
    let mut devs = devices.to_vec();
    devs.sort();
    devs.dedup();
    let mut held = vec![];
    for d in devs {
        let (f, path) = run.lock_file(&d)?;
        let f = match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((f, nix::errno::Errno::EWOULDBLOCK)) => {
                on_wait(&d);
                Flock::lock(f, FlockArg::LockExclusive)
                    .map_err(|(_, e)| e)
                    .with_context(|| format!("locking {}", path.display()))?
            }
            Err((_, e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        };
        held.push(f);
    }
    Ok(Locks { _held: held })
}
