//! bench-helper: the few measurements the busybox guest cannot make with shell tools
//! (busybox `date` has no %N, /proc/uptime has 10 ms resolution, there is no `time -v`).
//! Every time is CLOCK_MONOTONIC in microseconds. Used by bench/guest.sh; not part of the product.
//!
//!   bench-helper now                              monotonic time, µs
//!   bench-helper noop                             exits at once (spawn baseline)
//!   bench-helper run -- CMD...                   runs CMD once (stderr kept): wall µs of
//!                                                 spawn..wait4, ru_maxrss, exit status
//!   bench-helper stats N -- CMD...                runs CMD N times (+3 warm-up): wall time of
//!                                                 spawn..wait4, ru_maxrss of the child
//!   bench-helper wake N MARKER_DIR -- CMD...      CMD (wait-offload) blocks in poll(2); the
//!                                                 marker is renamed into place; µs until CMD
//!                                                 exited as seen by wait4
//!   bench-helper wake-seed N FILE                 the seed's `sleep 1` loop in sh, FILE created
//!                                                 at a random phase; µs until the loop exited
//!   bench-helper bind DRIVER THREADS BDF...       driver_override + drivers_probe per VF, with
//!                                                 THREADS workers taking VFs from one queue
//!   bench-helper unbind BDF...                    unbinds each VF from its driver
//!   bench-helper numvfs [--parallel] PATH=N...    writes sriov_numvfs files, one thread each
//!                                                 with --parallel
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

fn now_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

fn die(msg: &str) -> ! {
    eprintln!("bench-helper: {msg}");
    std::process::exit(2)
}

/// Spawns `cmd` with stdio on /dev/null; returns its pid and the spawn start time.
fn spawn(cmd: &[String]) -> (i32, u64) {
    let t0 = now_us();
    let child = Command::new(&cmd[0])
        .args(&cmd[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| die(&format!("spawning {}: {e}", cmd[0])));
    (child.id() as i32, t0)
}

/// wait4: (end time, exit status, ru_maxrss in KiB).
fn reap(pid: i32) -> (u64, ExitStatus, i64) {
    let mut status = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let t = now_us();
    if r != pid {
        die(&format!("wait4({pid}): {}", std::io::Error::last_os_error()));
    }
    (t, ExitStatus::from_raw(status), ru.ru_maxrss)
}

fn self_maxrss() -> i64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    ru.ru_maxrss
}

/// "n=.. med=.. min=.. max=.. p90=.." over microsecond samples.
fn summary(v: &mut [u64]) -> String {
    v.sort_unstable();
    let n = v.len();
    let med = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    };
    format!(
        "n={n} med_us={med} min_us={} max_us={} p90_us={}",
        v[0],
        v[n - 1],
        v[(n * 9 / 10).min(n - 1)]
    )
}

fn after_dashes(args: &[String]) -> Vec<String> {
    match args.iter().position(|a| a == "--") {
        Some(i) if i + 1 < args.len() => args[i + 1..].to_vec(),
        _ => die("expected -- CMD ..."),
    }
}

fn run(cmd: &[String]) {
    let t0 = now_us();
    let child = Command::new(&cmd[0])
        .args(&cmd[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| die(&format!("spawning {}: {e}", cmd[0])));
    let (t1, st, rss) = reap(child.id() as i32);
    println!(
        "us={} maxrss_kib={rss} exit={}",
        t1 - t0,
        st.code().unwrap_or(-1)
    );
}

fn stats(n: usize, cmd: &[String]) {
    let mut samples = vec![];
    let mut rss = 0;
    let mut codes = std::collections::BTreeSet::new();
    for i in 0..n + 3 {
        let (pid, t0) = spawn(cmd);
        let (t1, st, r) = reap(pid);
        codes.insert(st.code().unwrap_or(-1));
        if i >= 3 {
            samples.push(t1 - t0);
            rss = rss.max(r);
        }
    }
    println!(
        "{} maxrss_kib={rss} helper_rss_kib={} exit={:?}",
        summary(&mut samples),
        self_maxrss(),
        codes
    );
}

/// The syscall a process is blocked in (first field of /proc/PID/syscall), if any.
fn blocked_in(pid: i32) -> Option<String> {
    let s = fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
    let f = s.split_whitespace().next()?.to_string();
    (f != "running").then_some(f)
}

fn wait_blocked_in_poll(pid: i32) {
    let deadline = now_us() + 20_000_000;
    loop {
        // x86_64: poll = 7, ppoll = 271, epoll_wait = 232, epoll_pwait = 281
        if let Some(nr) = blocked_in(pid) {
            if ["7", "271", "232", "281"].contains(&nr.as_str()) {
                return;
            }
        }
        if now_us() > deadline {
            die(&format!("pid {pid} never blocked in poll"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .unwrap_or_else(|e| die(&format!("boot_id: {e}")))
        .trim()
        .to_string()
}

/// wait-offload's wake-up: the marker is written like the product writes it (temp file in the
/// same directory, fsync, rename); the clock starts just before rename(2).
fn wake(n: usize, dir: &str, cmd: &[String]) {
    let ready = format!("{dir}/ready");
    let tmp = format!("{dir}/.ready.bench.tmp");
    let json = format!(
        "{{\"boot_id\": \"{}\", \"time\": 0, \"pfs\": []}}",
        boot_id()
    );
    fs::create_dir_all(dir).unwrap_or_else(|e| die(&format!("{dir}: {e}")));
    let mut samples = vec![];
    let mut bad = 0;
    for _ in 0..n {
        let _ = fs::remove_file(&ready);
        let _ = fs::remove_file(format!("{dir}/failed"));
        let (pid, _) = spawn(cmd);
        wait_blocked_in_poll(pid);
        let mut f = fs::File::create(&tmp).unwrap();
        f.write_all(json.as_bytes()).unwrap();
        f.sync_all().unwrap();
        drop(f);
        let t0 = now_us();
        fs::rename(&tmp, &ready).unwrap();
        let (t1, st, _) = reap(pid);
        if st.code() != Some(0) {
            bad += 1;
        }
        samples.push(t1 - t0);
    }
    let _ = fs::remove_file(&ready);
    println!("{} nonzero_exits={bad}", summary(&mut samples));
}

fn random_ms(max: u32) -> u64 {
    let mut b = [0u8; 4];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .unwrap_or_else(|e| die(&format!("/dev/urandom: {e}")));
    (u32::from_ne_bytes(b) % max) as u64
}

/// The seed's rc.local.wait_offload loop (busybox sh: `[ ]` for bash's `[[ ]]`).
fn wake_seed(n: usize, file: &str) {
    let script = format!(
        "count=600; while [ ${{count}} -gt 0 ]; do if [ -f {file} ]; then break; fi; sleep 1; count=$((count-1)); done"
    );
    let cmd = vec!["sh".to_string(), "-c".to_string(), script];
    let mut samples = vec![];
    for _ in 0..n {
        let _ = fs::remove_file(file);
        let (pid, _) = spawn(&cmd);
        std::thread::sleep(Duration::from_millis(random_ms(1000)));
        let t0 = now_us();
        fs::File::create(file).unwrap_or_else(|e| die(&format!("{file}: {e}")));
        let (t1, _, _) = reap(pid);
        samples.push(t1 - t0);
    }
    let _ = fs::remove_file(file);
    println!("{}", summary(&mut samples));
}

fn write(path: &str, value: &str) -> std::io::Result<()> {
    let mut f = OpenOptions::new().write(true).open(path)?;
    f.write_all(value.as_bytes())
}

/// Binds VFs as the product and the floor do (autoprobe off: driver_override, then
/// drivers_probe, which probes synchronously). Prints the total and each VF's time.
fn bind(driver: &str, threads: usize, vfs: &[String]) {
    let next = AtomicUsize::new(0);
    let per: Mutex<Vec<(usize, u64)>> = Mutex::new(vec![]);
    let t0 = now_us();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(vf) = vfs.get(i) else { break };
                let a = now_us();
                write(&format!("/sys/bus/pci/devices/{vf}/driver_override"), driver)
                    .and_then(|_| write("/sys/bus/pci/drivers_probe", vf))
                    .unwrap_or_else(|e| die(&format!("binding {vf}: {e}")));
                per.lock().unwrap().push((i, now_us() - a));
            });
        }
    });
    let total = now_us() - t0;
    let mut per = per.into_inner().unwrap();
    per.sort_unstable();
    let list: Vec<String> = per.iter().map(|(_, us)| us.to_string()).collect();
    let mut v: Vec<u64> = per.iter().map(|(_, us)| *us).collect();
    println!(
        "total_us={total} vfs={} threads={threads} per_vf: {} list={}",
        vfs.len(),
        summary(&mut v),
        list.join(",")
    );
}

fn unbind(vfs: &[String]) {
    let t0 = now_us();
    for vf in vfs {
        let d = format!("/sys/bus/pci/devices/{vf}/driver/unbind");
        if fs::metadata(&d).is_ok() {
            write(&d, vf).unwrap_or_else(|e| die(&format!("unbinding {vf}: {e}")));
        }
    }
    println!("total_us={} vfs={}", now_us() - t0, vfs.len());
}

fn numvfs(parallel: bool, specs: &[String]) {
    let specs: Vec<(&str, &str)> = specs
        .iter()
        .map(|s| s.split_once('=').unwrap_or_else(|| die("expected PATH=N")))
        .collect();
    let one = |(p, n): &(&str, &str)| {
        let a = now_us();
        write(p, n).unwrap_or_else(|e| die(&format!("{p} = {n}: {e}")));
        now_us() - a
    };
    let t0 = now_us();
    let each: Vec<u64> = if parallel {
        std::thread::scope(|s| {
            let h: Vec<_> = specs.iter().map(|sp| s.spawn(move || one(sp))).collect();
            h.into_iter().map(|h| h.join().unwrap()).collect()
        })
    } else {
        specs.iter().map(one).collect()
    };
    let each: Vec<String> = each.iter().map(|u| u.to_string()).collect();
    println!("total_us={} each_us={}", now_us() - t0, each.join(","));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| -> usize {
        args.get(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| die("expected a number"))
    };
    match args.first().map(String::as_str) {
        Some("now") => println!("{}", now_us()),
        Some("noop") => {}
        Some("run") => run(&after_dashes(&args)),
        Some("stats") => stats(num(1), &after_dashes(&args)),
        Some("wake") => wake(
            num(1),
            args.get(2).unwrap_or_else(|| die("wake N DIR -- CMD")),
            &after_dashes(&args),
        ),
        Some("wake-seed") => wake_seed(
            num(1),
            args.get(2).unwrap_or_else(|| die("wake-seed N FILE")),
        ),
        Some("bind") if args.len() >= 4 => bind(&args[1], num(2), &args[3..]),
        Some("unbind") => unbind(&args[1..]),
        Some("numvfs") if args.get(1).map(String::as_str) == Some("--parallel") => {
            numvfs(true, &args[2..])
        }
        Some("numvfs") => numvfs(false, &args[1..]),
        _ => die("usage: see the top of bench/helper/src/main.rs"),
    }
}
