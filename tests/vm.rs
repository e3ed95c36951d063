//! Real-kernel scenarios: every `tests/vm/scenarios/*.sh` (fast initramfs guest) and
//! `tests/vm/scenarios/systemd/*.sh` (full systemd boot) is one test, run in a QEMU VM by
//! `tests/vm/run-scenario.sh` with the project's binaries copied in. See tests/vm/README.md.
//!
//! The test bed must have been set up (`tests/vm/setup.sh`, as root; `tests/run-all.sh` does it).
//! If the VM cannot run, the tests fail with the reason. `SRIOV_TESTBED_SKIP=1` reports them as
//! ignored instead (CI never sets it). Scenarios run one at a time (each VM keeps both host cores
//! busy); `SRIOV_TESTBED_JOBS=N` allows N at once.

use libtest_mimic::{Arguments, Failed, Trial};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let mut args = Arguments::from_args();
    args.test_threads = Some(
        std::env::var("SRIOV_TESTBED_JOBS")
            .ok()
            .and_then(|j| j.parse().ok())
            .unwrap_or(1),
    );
    let skip = std::env::var("SRIOV_TESTBED_SKIP").as_deref() == Ok("1");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // SRIOV_TESTBED_SCENARIO_DIR: run the scenarios of another directory (tests of the harness)
    let scenarios = std::env::var_os("SRIOV_TESTBED_SCENARIO_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("tests/vm/scenarios"));
    // The binaries cargo built for this test run live next to vf-pre.
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_vf-pre"))
        .parent()
        .expect("binary directory")
        .to_path_buf();

    let mut trials = Vec::new();
    for (dir, flavour) in [
        (scenarios.clone(), "initramfs"),
        (scenarios.join("systemd"), "systemd"),
    ] {
        for script in scenario_files(&dir) {
            let name = script
                .file_stem()
                .expect("scenario file name")
                .to_string_lossy()
                .into_owned();
            let bin_dir = bin_dir.clone();
            let root = root.to_path_buf();
            trials.push(
                Trial::test(name, move || run(&root, &script, flavour, &bin_dir))
                    .with_kind(flavour)
                    .with_ignored_flag(skip),
            );
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

/// `*.sh` files directly in `dir`, sorted.
fn scenario_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "sh"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Copies the project's binaries (executable files without a dot in their name) out of cargo's
/// target directory into `dest`, so the guest gets only those.
fn stage_binaries(from: &Path, dest: &Path) -> Result<usize, Failed> {
    let mut n = 0;
    for entry in fs::read_dir(from).map_err(|e| format!("reading {}: {e}", from.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path();
        let name = entry.file_name();
        let meta = fs::metadata(&path).map_err(|e| e.to_string())?;
        if meta.is_file()
            && meta.permissions().mode() & 0o111 != 0
            && !name.to_string_lossy().contains('.')
        {
            fs::copy(&path, dest.join(&name))
                .map_err(|e| format!("copying {}: {e}", path.display()))?;
            n += 1;
        }
    }
    Ok(n)
}

fn run(root: &Path, script: &Path, flavour: &str, bin_dir: &Path) -> Result<(), Failed> {
    let staging = tempfile::Builder::new()
        .prefix("sriov-testbed-bin.")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    stage_binaries(bin_dir, staging.path())?;
    let boot = || {
        Command::new("bash")
            .arg(root.join("tests/vm/run-scenario.sh"))
            .args(["--flavour", flavour, "--bin-dir"])
            .arg(staging.path())
            .arg(script)
            .output()
            .map_err(|e| format!("cannot run tests/vm/run-scenario.sh: {e}"))
    };
    let mut out = boot()?;
    let mut log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Under TCG on an overloaded 2-core host a guest vCPU can be starved until the guest's
    // RCU stalls and the VM hangs (seen twice in ~60 boots, "rcu_preempt kthread timer wakeup
    // didn't happen"). Only then, one more boot; a hang of our own hangs again and fails.
    if out.status.code() == Some(91) && log.contains("rcu: INFO: rcu_preempt detected stalls") {
        println!(
            "{}: the VM timed out after guest RCU stalls (emulator starved); booting once more",
            script.display()
        );
        let first = log;
        out = boot()?;
        log = format!(
            "{}{}\n===== first boot (timed out after RCU stalls) =====\n{first}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if std::env::var("SRIOV_TESTBED_VERBOSE").as_deref() == Ok("1") {
        println!("{log}");
    }
    let why = match out.status.code() {
        Some(0) => return Ok(()),
        Some(90) => "the VM cannot run here: test bed not set up (run tests/vm/setup.sh as root, \
                     or set SRIOV_TESTBED_SKIP=1 to skip)"
            .to_string(),
        Some(91) => "the VM timed out".to_string(),
        Some(92) => "the VM stopped without reporting the scenario's exit status".to_string(),
        Some(93) => "bad run-scenario.sh invocation".to_string(),
        Some(c) => format!("the scenario failed (exit status {c})"),
        None => "run-scenario.sh was killed by a signal".to_string(),
    };
    Err(format!(
        "{}: {why}\n===== guest output =====\n{log}",
        script.display()
    )
    .into())
}
