//! Golden trees for sriov-offload-generator (zram-generator style): every directory
//! `tests/generator/NN-name/` holds an input root (`etc/sriov-offload/...`) and the whole expected
//! output directory (`expected/`, absent = nothing generated). The generator runs with
//! `SRIOV_OFFLOAD_ROOT` at the case and a fresh output directory, which must equal `expected/`
//! file for file. What it logs must equal `stderr.expected` (absent = silent), with the case's path
//! written as `$ROOT`.
//!
//! `UPDATE_GOLDEN=1 cargo test --test generator` rewrites `expected/` and `stderr.expected` from
//! the output; review the diff before committing it.
//!
//! Every static unit and every case's generated drop-ins also go through
//! `systemd-analyze verify` (package `systemd`) in a scratch root: a copy of the host's
//! /usr/lib/systemd/system, the units of units/, stub executables for the ExecStart= binaries,
//! stub consumer units, and the generated files in /run/systemd/system. Without systemd-analyze
//! that test fails and says so.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const GENERATOR: &str = env!("CARGO_BIN_EXE_sriov-offload-generator");
const STATIC_UNITS: [&str; 5] = [
    "sriov-offload.target",
    "sriov-offload-pre.service",
    "sriov-offload-post.service",
    "sriov-offload-irq.service",
    "sriov-offload-reapply@.service",
];
/// The ExecStart= binaries of the static units (and the ExecStartPre= of the OVS drop-in).
const EXEC_BINARIES: [&str; 4] = ["vf-pre", "vf-post", "irq-tune", "sriov-offload-ovs"];

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(manifest().join("tests/generator"))
        .expect("tests/generator")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    assert!(
        v.len() >= 5,
        "expected the golden cases under tests/generator"
    );
    v
}

/// Relative path → content of every file under `dir` (empty when `dir` does not exist).
fn tree(dir: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let content =
                    fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                out.insert(p.strip_prefix(base).unwrap().to_path_buf(), content);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

struct Run {
    out: tempfile::TempDir,
    status: Option<i32>,
    stderr: String,
    elapsed: Duration,
}

fn run_generator(case: &Path) -> Run {
    let out = tempfile::tempdir().unwrap();
    let (normal, early, late) = (
        out.path().join("normal"),
        out.path().join("early"),
        out.path().join("late"),
    );
    for d in [&normal, &early, &late] {
        fs::create_dir(d).unwrap();
    }
    let t = Instant::now();
    let o = Command::new(GENERATOR)
        .env("SRIOV_OFFLOAD_ROOT", case)
        .env_remove("SYSTEMD_IN_INITRD")
        .args([&normal, &early, &late])
        .output()
        .unwrap();
    let elapsed = t.elapsed();
    let stderr = String::from_utf8_lossy(&o.stderr).replace(case.to_str().unwrap(), "$ROOT");
    assert!(
        tree(&early).is_empty() && tree(&late).is_empty(),
        "{}: wrote into the early or late directory",
        case.display()
    );
    Run {
        out,
        status: o.status.code(),
        stderr,
        elapsed,
    }
}

fn diff(case: &Path, want: &BTreeMap<PathBuf, String>, got: &BTreeMap<PathBuf, String>) -> String {
    let mut d = String::new();
    for (p, w) in want {
        match got.get(p) {
            None => d += &format!("  missing: {}\n", p.display()),
            Some(g) if g != w => {
                d += &format!(
                    "  differs: {}\n--- expected\n{w}--- generated\n{g}",
                    p.display()
                )
            }
            _ => {}
        }
    }
    for (p, g) in got {
        if !want.contains_key(p) {
            d += &format!("  unexpected: {}\n{g}", p.display());
        }
    }
    if d.is_empty() {
        d
    } else {
        format!("{}:\n{d}", case.display())
    }
}

#[test]
fn generator_output_matches_golden_trees() {
    let update = std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1");
    let mut failures = vec![];
    for case in cases() {
        let run = run_generator(&case);
        let got = tree(&run.out.path().join("normal"));
        let stderr_file = case.join("stderr.expected");
        if update {
            let exp = case.join("expected");
            let _ = fs::remove_dir_all(&exp);
            for (p, c) in &got {
                let dst = exp.join(p);
                fs::create_dir_all(dst.parent().unwrap()).unwrap();
                fs::write(dst, c).unwrap();
            }
            if run.stderr.is_empty() {
                let _ = fs::remove_file(&stderr_file);
            } else {
                fs::write(&stderr_file, &run.stderr).unwrap();
            }
        }
        if run.status != Some(0) {
            failures.push(format!(
                "{}: exit status {:?}, want 0 (a generator never fails the boot)\n{}",
                case.display(),
                run.status,
                run.stderr
            ));
        }
        // generators run on the critical path of every boot; this only catches waits
        if run.elapsed > Duration::from_secs(2) {
            failures.push(format!("{}: took {:?}", case.display(), run.elapsed));
        }
        let d = diff(&case, &tree(&case.join("expected")), &got);
        if !d.is_empty() {
            failures.push(d);
        }
        let want_stderr = fs::read_to_string(&stderr_file).unwrap_or_default();
        if run.stderr != want_stderr {
            failures.push(format!(
                "{}: stderr differs\n--- expected\n{want_stderr}--- got\n{}",
                case.display(),
                run.stderr
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n(UPDATE_GOLDEN=1 rewrites the expected trees)",
        failures.join("\n")
    );
}

#[test]
fn every_generated_file_starts_with_the_header() {
    for case in cases() {
        for (p, c) in tree(&case.join("expected")) {
            assert!(
                c.starts_with("# Automatically generated by sriov-offload-generator\n"),
                "{}: {}",
                case.display(),
                p.display()
            );
        }
    }
}

#[test]
fn config_error_goes_to_kmsg_when_it_is_writable() {
    let case = manifest().join("tests/generator/05-invalid-config");
    let root = tempfile::tempdir().unwrap();
    copy_tree(&case.join("etc"), &root.path().join("etc"));
    fs::create_dir(root.path().join("dev")).unwrap();
    // a regular file standing in for the character device
    fs::write(root.path().join("dev/kmsg"), "").unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(GENERATOR)
        .env("SRIOV_OFFLOAD_ROOT", root.path())
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let kmsg = fs::read_to_string(root.path().join("dev/kmsg")).unwrap();
    assert!(!kmsg.is_empty());
    for line in kmsg.lines() {
        assert!(line.starts_with("<3>sriov-offload-generator: "), "{line}");
    }
    assert!(kmsg.contains("config.toml:5:7: "), "{kmsg}");
}

#[test]
fn generator_in_the_initrd_writes_nothing() {
    let case = manifest().join("tests/generator/03-bond-consumers");
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(GENERATOR)
        .env("SRIOV_OFFLOAD_ROOT", &case)
        .env("SYSTEMD_IN_INITRD", "1")
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(tree(out.path()).is_empty());
}

#[test]
fn generator_without_output_dir_is_a_usage_error() {
    let o = Command::new(GENERATOR).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

fn copy_tree(from: &Path, to: &Path) {
    for (p, c) in tree(from) {
        let dst = to.join(p);
        fs::create_dir_all(dst.parent().unwrap()).unwrap();
        fs::write(dst, c).unwrap();
    }
}

fn systemd_analyze() -> PathBuf {
    for p in ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "systemd-analyze not found: `systemd-analyze verify` of the units cannot run \
         (install the Debian package `systemd`)"
    );
}

fn host_unit_dir() -> PathBuf {
    for p in ["/usr/lib/systemd/system", "/lib/systemd/system"] {
        if Path::new(p).join("sysinit.target").exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "no systemd unit directory with sysinit.target on this host: systemd-analyze verify \
         needs systemd's own units (install the Debian package `systemd`)"
    );
}

fn write_exec(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A scratch root for `systemd-analyze --root`: host units, ours, stub binaries, `generated` in
/// /run/systemd/system (where drop-ins apply like the generator directory's). Returns the root
/// and the unit names to verify.
fn verify_root(generated: &BTreeMap<PathBuf, String>) -> (tempfile::TempDir, Vec<String>) {
    let root = tempfile::tempdir().unwrap();
    let sys = root.path().join("usr/lib/systemd/system");
    fs::create_dir_all(&sys).unwrap();
    let host = host_unit_dir();
    for e in fs::read_dir(&host).unwrap() {
        let e = e.unwrap();
        // regular unit files only; the .wants/ symlink farms are not needed to verify ours
        if e.file_type().unwrap().is_file() {
            fs::copy(e.path(), sys.join(e.file_name())).unwrap();
        }
    }
    // a template is verified through an instance of it
    let mut units: Vec<String> = STATIC_UNITS
        .iter()
        .map(|s| s.replace("@.", "@eth0."))
        .collect();
    for u in STATIC_UNITS {
        fs::copy(manifest().join("units").join(u), sys.join(u)).unwrap();
    }
    for b in EXEC_BINARIES {
        write_exec(&root.path().join("usr/bin").join(b));
    }
    write_exec(&root.path().join("usr/bin/consumer-stub"));
    let run = root.path().join("run/systemd/system");
    for (p, c) in generated {
        let dst = run.join(p);
        fs::create_dir_all(dst.parent().unwrap()).unwrap();
        fs::write(dst, c).unwrap();
        // a drop-in for a unit that is not ours: a stub consumer to verify along
        let dir = p.parent().and_then(|d| d.to_str()).unwrap_or("");
        let unit = dir.strip_suffix(".d").unwrap_or(dir).to_string();
        if !unit.is_empty() && !units.contains(&unit) {
            let body = if unit.ends_with(".service") {
                "[Unit]\nDescription=consumer stub\n\n[Service]\nExecStart=/usr/bin/consumer-stub\n"
            } else {
                "[Unit]\nDescription=consumer stub\n"
            };
            // a template instance (`x@i.service`) is loaded from the template `x@.service`
            let file = match unit.split_once('@') {
                Some((t, rest)) => format!("{t}@{}", &rest[rest.find('.').unwrap()..]),
                None => unit.clone(),
            };
            fs::write(sys.join(file), body).unwrap();
            units.push(unit);
        }
    }
    (root, units)
}

fn verify(what: &str, generated: &BTreeMap<PathBuf, String>) -> Option<String> {
    verify_with(what, generated, &[])
}

/// `verify`, with extra unit files (name, content) in the scratch root, verified too.
fn verify_with(
    what: &str,
    generated: &BTreeMap<PathBuf, String>,
    extra: &[(&str, &str)],
) -> Option<String> {
    let (root, mut units) = verify_root(generated);
    for (name, body) in extra {
        fs::write(root.path().join("usr/lib/systemd/system").join(name), body).unwrap();
        units.push(name.to_string());
    }
    let o = Command::new(systemd_analyze())
        .arg(format!("--root={}", root.path().display()))
        .args(["--man=no", "--generators=no", "verify"])
        .args(&units)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    // warnings ("Unknown key", ordering cycles) leave the status 0: any output is a failure
    if o.status.success() && stderr.trim().is_empty() {
        None
    } else {
        Some(format!(
            "{what}: systemd-analyze verify {}: {}\n{stderr}",
            units.join(" "),
            o.status
        ))
    }
}

#[test]
fn static_and_generated_units_pass_systemd_analyze_verify() {
    let mut failures = vec![];
    failures.extend(verify("static units", &BTreeMap::new()));
    for case in cases() {
        let generated = tree(&case.join("expected"));
        if !generated.is_empty() {
            failures.extend(verify(&case.display().to_string(), &generated));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn networkd_host_boot_has_no_ordering_cycle() {
    // one transaction with systemd-networkd (its own unit from the host) and our target, as on a
    // networkd host where both are enabled: pre is Before=systemd-networkd.service, post
    // After=network.target, which networkd is Before=
    assert!(
        host_unit_dir().join("systemd-networkd.service").exists(),
        "no systemd-networkd.service in {}: install the Debian package `systemd`",
        host_unit_dir().display()
    );
    let host = "[Unit]\nDescription=networkd host stub\n\
                Wants=systemd-networkd.service systemd-networkd.socket sriov-offload.target\n";
    let case = manifest().join("tests/generator/03-bond-consumers");
    let generated = tree(&case.join("expected"));
    let failure = verify_with(
        "networkd host",
        &generated,
        &[("networkd-host-stub.target", host)],
    );
    assert!(failure.is_none(), "{}", failure.unwrap_or_default());
}

#[test]
fn verify_catches_an_ordering_cycle() {
    // the check above is only worth something if systemd-analyze reports a cycle here
    let cycle = "[Unit]\nDescription=cycle stub\nWants=sriov-offload.target\n\
                 Before=sriov-offload-pre.service\nAfter=sriov-offload.target\n";
    let r = verify_with("cycle", &BTreeMap::new(), &[("cycle-stub.target", cycle)]);
    assert!(
        r.as_deref()
            .is_some_and(|m| m.contains("Found ordering cycle")),
        "{r:?}"
    );
}

#[test]
fn verify_catches_a_broken_drop_in() {
    // the check above is only worth something if systemd-analyze reports problems here
    let mut bad = BTreeMap::new();
    bad.insert(
        PathBuf::from("sriov-offload-pre.service.d/50-devices.conf"),
        "[Unit]\nRequires=no-such-unit-anywhere.service\nAfter=no-such-unit-anywhere.service\n"
            .to_string(),
    );
    assert!(verify("broken drop-in", &bad).is_some());
}
