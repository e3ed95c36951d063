//! Per-PF locks so udev, units and ifupdown hooks reaching the same PF serialise.

use std::fs::File;
use std::path::Path;
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};

use crate::host::{lock_holder, Host};
use crate::wait::Timeout;

pub struct Locks {
    _held: Vec<Flock<File>>,
}

/// Takes the locks of all `devices` (PCI addresses / device names) in sorted order, so two
/// runs over overlapping sets cannot deadlock. Waits while another run holds one, until
/// `deadline`: then a timeout naming the holder (exit 3).
pub fn lock_all(
    host: &Host,
    devices: &[String],
    deadline: Instant,
    mut on_wait: impl FnMut(&str, Option<&str>),
) -> Result<Locks> {
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
                let holder = lock_holder(&f);
                on_wait(&d, holder.as_deref());
                wait_for(f, &d, &path, deadline, holder)?
            }
            Err((_, e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        };
        held.push(f);
    }
    Ok(Locks { _held: held })
}

/// A blocking `flock` in a thread of its own, waited for until the deadline. On a timeout the
/// thread stays blocked until the process exits, which it is about to: that holds no lock.
fn wait_for(
    f: File,
    dev: &str,
    path: &Path,
    deadline: Instant,
    holder: Option<String>,
) -> Result<Flock<File>> {
    let start = Instant::now();
    let probe = f.try_clone().ok();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| e));
    });
    match rx.recv_timeout(deadline.saturating_duration_since(start)) {
        Ok(Ok(l)) => Ok(l),
        Ok(Err(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
        Err(_) => {
            let now = probe.as_ref().and_then(lock_holder).or(holder);
            Err(Timeout {
                what: format!(
                    "the lock of {dev} ({}), held by another run",
                    path.display()
                ),
                after: start.elapsed(),
                missing: vec![match now {
                    Some(h) => format!("{h} still holds it"),
                    None => "its holder is not known (it may have just let go)".into(),
                }],
            }
            .into())
        }
    }
}
