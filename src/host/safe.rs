//! Creating files without trusting what is already there. Everything we create goes through
//! here: `O_CREAT|O_EXCL|O_NOFOLLOW` with random temp names (a planted symlink or FIFO at a
//! predictable name can neither redirect nor block a write), explicit modes whatever the umask,
//! and in directories others can write (the legacy marker under /tmp) nothing is truncated,
//! unlinked or renamed over unless it is provably ours: a regular file owned by us with one link.

use std::collections::hash_map::RandomState;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path};

use anyhow::{bail, Context, Result};
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fchmod, fstatat, mkdirat, FileStat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};

pub(super) const DIR_MODE: u32 = 0o755;
pub(super) const FILE_MODE: u32 = 0o644;
pub(super) const LOCK_MODE: u32 = 0o600;

/// Creates `path` and missing parents with mode 0755 (set explicitly: the umask may be 000).
pub(super) fn create_dir_all(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        create_dir_all(parent)?;
    }
    match fs::DirBuilder::new().mode(DIR_MODE).create(path) {
        Ok(()) => fs::set_permissions(path, fs::Permissions::from_mode(DIR_MODE))
            .with_context(|| format!("setting mode 0755 on {}", path.display())),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating directory {}", path.display())),
    }
}

fn random_suffix() -> String {
    // RandomState is seeded from the OS's random source once per process, and differently
    // for each instance
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// Opens a new file that did not exist, never through a link, with `mode` set explicitly.
pub(super) fn create_new(path: &Path, mode: u32) -> io::Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc_flags(OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC))
        .open(path)?;
    f.set_permissions(fs::Permissions::from_mode(mode))?;
    Ok(f)
}

fn libc_flags(f: OFlag) -> i32 {
    f.bits()
}

/// Replaces `path` atomically: a new temp file with a random name in the same directory,
/// fsync, rename, fsync the directory. Readers see the old content or the new.
pub(super) fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    create_dir_all(dir)?;
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?
        .to_string_lossy()
        .into_owned();
    let mut last = None;
    for _ in 0..8 {
        let tmp = dir.join(format!(".{name}.{}.tmp", random_suffix()));
        let mut f = match create_new(&tmp, FILE_MODE) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                last = Some(e);
                continue;
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("creating {} for {}", tmp.display(), path.display()))
            }
        };
        let res = (|| -> io::Result<()> {
            f.write_all(contents)?;
            f.sync_all()?;
            fs::rename(&tmp, path)?;
            File::open(dir)?.sync_all()
        })();
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        return res.with_context(|| format!("writing {} atomically", path.display()));
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temp name"))).with_context(|| {
        format!(
            "writing {} atomically: every temp name was taken",
            path.display()
        )
    })
}

/// The directory holding `path` (relative to `root`), opened component by component without
/// following any link: a directory swapped for a symlink cannot move the file elsewhere.
/// With `create`, missing directories are made (mode 0755 less the umask: only under /run and
/// /tmp, whose own modes are what protects them).
fn open_parent(root: &Path, path: &Path, create: bool) -> Result<(OwnedFd, String)> {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let mut parts: Vec<String> = vec![];
    for c in rel.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::RootDir | Component::CurDir => {}
            _ => bail!("{}: `..` is not allowed", path.display()),
        }
    }
    let name = parts
        .pop()
        .with_context(|| format!("{} has no file name", path.display()))?;
    let dflags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_RDONLY;
    let fd = nix::fcntl::open(root, OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .with_context(|| format!("opening {}", root.display()))?;
    // SAFETY: open returned a new descriptor that nothing else owns
    let mut dir = unsafe { OwnedFd::from_raw_fd(fd) };
    for p in &parts {
        let open = || openat(Some(dir.as_raw_fd()), p.as_str(), dflags, Mode::empty());
        let fd = match open() {
            Err(nix::errno::Errno::ENOENT) if create => {
                match mkdirat(
                    Some(dir.as_raw_fd()),
                    p.as_str(),
                    Mode::from_bits_truncate(DIR_MODE),
                ) {
                    Ok(()) | Err(nix::errno::Errno::EEXIST) => open(),
                    Err(e) => Err(e),
                }
            }
            r => r,
        }
        .with_context(|| {
            format!(
                "opening directory {p} on the way to {} (a symlink there is not followed)",
                path.display()
            )
        })?;
        // SAFETY: as above
        dir = unsafe { OwnedFd::from_raw_fd(fd) };
    }
    Ok((dir, name))
}

/// What is at `name` in `dir`, without following it.
fn lstat_at(dir: &OwnedFd, name: &str) -> nix::Result<FileStat> {
    fstatat(
        Some(dir.as_raw_fd()),
        name,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
}

/// Why the file is not provably ours, if it is not: a regular file owned by us with one link.
fn not_ours(st: &FileStat) -> Option<String> {
    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    let what = match kind {
        SFlag::S_IFREG => None,
        SFlag::S_IFLNK => Some("a symlink"),
        SFlag::S_IFDIR => Some("a directory"),
        SFlag::S_IFIFO => Some("a FIFO"),
        SFlag::S_IFSOCK => Some("a socket"),
        _ => Some("a device node"),
    };
    if let Some(w) = what {
        return Some(format!("it is {w}"));
    }
    let me = nix::unistd::geteuid().as_raw();
    if st.st_uid != me {
        return Some(format!("it is owned by uid {}, not {me}", st.st_uid));
    }
    if st.st_nlink != 1 {
        return Some(format!("it has {} hard links", st.st_nlink));
    }
    None
}

/// Outcome of creating a marker file in a directory others may write.
#[derive(Debug, PartialEq, Eq)]
pub enum Created {
    New,
    /// Ours already (from an earlier run).
    Existed,
}

/// Creates an empty file at its final name, `O_CREAT|O_EXCL|O_NOFOLLOW`, mode 0644. Something
/// already there is accepted only when provably ours; otherwise the error says what it is.
pub(super) fn create_marker(root: &Path, path: &Path) -> Result<Created> {
    let (dir, name) = open_parent(root, path, true)?;
    let flags = OFlag::O_CREAT
        | OFlag::O_EXCL
        | OFlag::O_NOFOLLOW
        | OFlag::O_WRONLY
        | OFlag::O_CLOEXEC
        | OFlag::O_NONBLOCK;
    match openat(
        Some(dir.as_raw_fd()),
        name.as_str(),
        flags,
        Mode::from_bits_truncate(FILE_MODE),
    ) {
        Ok(fd) => {
            // SAFETY: openat returned a new descriptor
            let f = unsafe { OwnedFd::from_raw_fd(fd) };
            fchmod(f.as_raw_fd(), Mode::from_bits_truncate(FILE_MODE))
                .with_context(|| format!("setting mode 0644 on {}", path.display()))?;
            Ok(Created::New)
        }
        Err(nix::errno::Errno::EEXIST) => {
            let st =
                lstat_at(&dir, &name).with_context(|| format!("inspecting {}", path.display()))?;
            match not_ours(&st) {
                None => Ok(Created::Existed),
                Some(why) => bail!(
                    "{} exists and is not ours ({why}): left alone",
                    path.display()
                ),
            }
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

/// Removes the file at `path` only when it is provably ours; absent is fine. True when removed.
pub(super) fn remove_marker(root: &Path, path: &Path) -> Result<bool> {
    let (dir, name) = match open_parent(root, path, false) {
        Ok(x) => x,
        // no directory, no marker
        Err(e) if crate::host::errno_of(&e) == Some(nix::errno::Errno::ENOENT as i32) => {
            return Ok(false)
        }
        Err(e) => return Err(e),
    };
    let st = match lstat_at(&dir, &name) {
        Ok(st) => st,
        Err(nix::errno::Errno::ENOENT) => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("inspecting {}", path.display())),
    };
    if let Some(why) = not_ours(&st) {
        bail!("{} is not ours ({why}): left alone", path.display());
    }
    unlinkat(
        Some(dir.as_raw_fd()),
        name.as_str(),
        UnlinkatFlags::NoRemoveDir,
    )
    .with_context(|| format!("removing {}", path.display()))?;
    Ok(true)
}

/// Opens (creating, mode 0600) a lock file in a directory only root can write.
pub(super) fn open_lock(path: &Path) -> Result<File> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(LOCK_MODE)
        .custom_flags(libc_flags(
            OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
        ))
        .open(path)
        .with_context(|| format!("opening lock {}", path.display()))?;
    f.set_permissions(fs::Permissions::from_mode(LOCK_MODE))
        .with_context(|| format!("setting mode 0600 on {}", path.display()))?;
    Ok(f)
}
