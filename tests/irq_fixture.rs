//! `irq-tune` against fixture trees (SRIOV_OFFLOAD_ROOT) shaped like real hosts: a 2-socket,
//! 64-CPU mlx5 hypervisor (two PFs on NUMA node 1, VFs with their own vectors, async/control
//! vectors, a vfio-owned VF, a managed IRQ, one CPU offline) and an Intel host (igb `TxRx`,
//! split `rx`/`tx` vectors on a root-bus device with numa_node -1, i40e-style names).
//! Proves discovery, the plan (golden files) and that applying writes exactly the planned files
//! and nothing on a second run. Channels, rings and RSS need a kernel: proven in tests/vm.

use std::collections::BTreeMap;
use std::fs;
mod common;

use common::{golden, link, write};
use std::path::{Path, PathBuf};

use assert_cmd::Command;

// ---- fixture builder -------------------------------------------------------------------------

struct Tree {
    dir: tempfile::TempDir,
    /// IRQ → /proc/interrupts row text after the counts (chip, hwirq, name).
    rows: BTreeMap<u32, String>,
    online: Vec<u32>,
}

fn cpulist(s: &str) -> Vec<u32> {
    let mut v = vec![];
    for p in s.split(',') {
        let (a, b) = p.split_once('-').unwrap_or((p, p));
        v.extend(a.parse::<u32>().unwrap()..=b.parse().unwrap());
    }
    v
}

impl Tree {
    /// CPUs `possible`, of which `online`; NUMA nodes with their cpulists.
    fn new(possible: &str, online: &str, nodes: &[&str]) -> Tree {
        let t = Tree {
            dir: tempfile::tempdir().unwrap(),
            rows: BTreeMap::new(),
            online: cpulist(online),
        };
        write(
            &t.p("sys/devices/system/cpu/possible"),
            &format!("{possible}\n"),
        );
        write(
            &t.p("sys/devices/system/cpu/online"),
            &format!("{online}\n"),
        );
        for (i, l) in nodes.iter().enumerate() {
            write(
                &t.p(&format!("sys/devices/system/node/node{i}/cpulist")),
                &format!("{l}\n"),
            );
        }
        fs::create_dir_all(t.p("etc/sriov-offload")).unwrap();
        t
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.p(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    fn dev_dir(&self, bdf: &str) -> PathBuf {
        // behind a root port on its bus, as on a real host: /sys/devices/pci0000:af/0000:af:00.0/…
        let bus = &bdf[..7];
        self.p(&format!("sys/devices/pci{bus}/{bus}:00.0/{bdf}"))
    }

    /// A PCI function with NUMA node `numa` and (if given) its `local_cpulist`.
    fn pci(&self, bdf: &str, numa: i32, local: Option<&str>) {
        let d = self.dev_dir(bdf);
        write(&d.join("numa_node"), &format!("{numa}\n"));
        if let Some(l) = local {
            write(&d.join("local_cpulist"), &format!("{l}\n"));
        }
        fs::create_dir_all(d.join("msi_irqs")).unwrap();
        link(
            &format!(
                "../../../devices/{}",
                d.strip_prefix(self.p("sys/devices")).unwrap().display()
            ),
            &self.p(&format!("sys/bus/pci/devices/{bdf}")),
        );
    }

    /// VF `index` of `pf` at `vf` (same locality as the PF, as the kernel reports it).
    fn vf(&self, pf: &str, index: u32, vf: &str) {
        let pd = self.dev_dir(pf);
        let numa = self.read(&format!("sys/bus/pci/devices/{pf}/numa_node"));
        let local = fs::read_to_string(pd.join("local_cpulist")).ok();
        self.pci(
            vf,
            numa.trim().parse().unwrap(),
            local.as_deref().map(str::trim),
        );
        link(&format!("../{vf}"), &pd.join(format!("virtfn{index}")));
        link(&format!("../{pf}"), &self.dev_dir(vf).join("physfn"));
        write(&pd.join("sriov_numvfs"), &format!("{}\n", index + 1));
    }

    /// A netdev on `bdf` with `ntx` tx queues whose xps_cpus read `xps`.
    fn netdev(&self, bdf: &str, name: &str, ntx: u32, xps: &str) {
        let nd = self.dev_dir(bdf).join("net").join(name);
        write(&nd.join("flags"), "0x1003\n");
        write(&nd.join("address"), "02:00:00:00:00:01\n");
        link(&format!("../../../{bdf}"), &nd.join("device"));
        for q in 0..ntx {
            write(
                &nd.join(format!("queues/tx-{q}/xps_cpus")),
                &format!("{xps}\n"),
            );
            write(&nd.join(format!("queues/rx-{q}/rps_cpus")), "0\n");
        }
        link(
            &format!(
                "../../devices/{}",
                nd.strip_prefix(self.p("sys/devices")).unwrap().display()
            ),
            &self.p(&format!("sys/class/net/{name}")),
        );
    }

    /// An MSI-X vector of `bdf` (None: a vector not of any device we look at) named `name`.
    fn irq(&mut self, irq: u32, bdf: Option<&str>, name: &str, affinity: &str) {
        if let Some(b) = bdf {
            write(&self.dev_dir(b).join(format!("msi_irqs/{irq}")), "msix\n");
        }
        write(
            &self.p(&format!("proc/irq/{irq}/smp_affinity_list")),
            &format!("{affinity}\n"),
        );
        let hw = 92_798_976 + irq;
        self.rows
            .insert(irq, format!("IR-PCI-MSI {hw}-edge      {name}"));
    }

    /// The kernel's debugfs record of a managed IRQ.
    fn managed(&self, irq: u32, affinity: &str) {
        write(
            &self.p(&format!("sys/kernel/debug/irq/irqs/{irq}")),
            &format!(
                "handler:  handle_edge_irq\ndevice:   (null)\nstatus:   0x00004000\n\
                 istate:   0x00000000\nddepth:   0\nwdepth:   0\ndstate:   0x3d600200\n\
                 \x20           IRQD_ACTIVATED\n            IRQD_IRQ_STARTED\n\
                 \x20           IRQD_SINGLE_TARGET\n            IRQD_AFFINITY_MANAGED\n\
                 node:     1\naffinity: {affinity}\neffectiv: {affinity}\n"
            ),
        );
    }

    /// /proc/interrupts: a column per online CPU, then the rows, then NMI/LOC.
    fn interrupts(&self) {
        let mut s = String::from("    ");
        for c in &self.online {
            s += &format!("{:>11}", format!("CPU{c}"));
        }
        s += "\n";
        let counts = |seed: u32| -> String {
            self.online
                .iter()
                .map(|c| format!(" {:>10}", (seed * 7919 + c * 104_729) % 100_000 * (c % 3)))
                .collect()
        };
        s += &format!("   0:{}   IO-APIC   2-edge      timer\n", counts(0));
        s += &format!("   9:{}   IO-APIC   9-fasteoi   acpi\n", counts(9));
        for (irq, row) in &self.rows {
            s += &format!("{irq:>4}:{}  {row}\n", counts(*irq));
        }
        s += &format!(" NMI:{}   Non-maskable interrupts\n", counts(1));
        s += &format!(" LOC:{}   Local timer interrupts\n", counts(2));
        s += " ERR:          0\n MIS:          0\n";
        write(&self.p("proc/interrupts"), &s);
    }

    fn config(&self, text: &str) {
        write(&self.p("etc/sriov-offload/config.toml"), text);
    }

    fn snapshot(&self) -> BTreeMap<String, String> {
        common::snapshot(self.root())
    }

    fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("irq-tune").unwrap();
        c.env("SRIOV_OFFLOAD_ROOT", self.root()).env_remove("IFACE");
        c
    }
}

/// Paths whose content differs between two snapshots, with the new content.
fn changed(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "files were created or removed"
    );
    b.iter()
        .filter(|(k, v)| a.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.trim().to_string()))
        .collect()
}

fn stdout_of(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

// ---- the hosts ---------------------------------------------------------------------------------

const MLX5_CONFIG: &str = r#"
[[pf]]
match = { name = "ens6f0" }
vfs = 3
eswitch = "switchdev"
bind = "mlx5_core"

[[pf]]
match = { pci = "0000:af:00.1" }
vfs = 0

[[bond]]
name = "bond0"
slaves = ["ens6f0", "ens6f1"]

[tune]
rss_hfunc = "toeplitz"
rings = "max"
channels = "numa-local"
irq_affinity = "numa-local"
xps = true
"#;

const PF0: &str = "0000:af:00.0";
const PF1: &str = "0000:af:00.1";
const VF0: &str = "0000:af:00.2";
const VF1: &str = "0000:af:00.3";
const VF2: &str = "0000:af:00.4";

/// Two sockets, 64 CPUs with hyperthreads (node 0: 0-15,32-47; node 1: 16-31,48-63), CPU 63
/// offline. ConnectX PFs ens6f0/ens6f1 on node 1, 8 completion vectors each plus an async
/// vector; ens6f0 has VF 0 and 1 on mlx5_core (netdevs, 2 completion vectors each) and VF 2 on
/// vfio-pci (guest-owned vectors). ens6f1's comp3 is a managed IRQ. An NVMe drive's managed
/// queues are nobody's business here.
fn mlx5_host() -> Tree {
    let mut t = Tree::new("0-63", "0-62", &["0-15,32-47", "16-31,48-63"]);
    let local = "16-31,48-63";
    t.pci(PF0, 1, Some(local));
    t.pci(PF1, 1, Some(local));
    write(&t.dev_dir(PF1).join("sriov_numvfs"), "0\n");
    t.vf(PF0, 0, VF0);
    t.vf(PF0, 1, VF1);
    t.vf(PF0, 2, VF2);
    let zero = "00000000,00000000";
    t.netdev(PF0, "ens6f0", 9, zero);
    t.netdev(PF1, "ens6f1", 8, zero);
    t.netdev(VF0, "ens6f0v0", 2, zero);
    t.netdev(VF1, "ens6f0v1", 2, zero);
    // already placed: ens6f0 queue 0 on CPU 16 with its XPS
    write(
        &t.p("sys/class/net/ens6f0/queues/tx-0/xps_cpus"),
        "00000000,00010000\n",
    );
    for i in 0..3 {
        t.irq(40 + i, None, &format!("nvme0q{i}"), &format!("{}", i * 8));
        t.managed(40 + i, &format!("{}", i * 8));
    }
    for (base, pci) in [(140, PF0), (150, PF1)] {
        t.irq(base, Some(pci), &format!("mlx5_async0@pci:{pci}"), "0-62");
        for q in 0..8 {
            let aff = if base == 140 && q == 0 { "16" } else { "0-62" };
            t.irq(
                base + 1 + q,
                Some(pci),
                &format!("mlx5_comp{q}@pci:{pci}"),
                aff,
            );
        }
    }
    write(&t.p("proc/irq/154/smp_affinity_list"), "19\n");
    t.managed(154, "19");
    for (base, pci) in [(160, VF0), (165, VF1)] {
        t.irq(base, Some(pci), &format!("mlx5_async0@pci:{pci}"), "0-62");
        t.irq(
            base + 1,
            Some(pci),
            &format!("mlx5_comp0@pci:{pci}"),
            "0-62",
        );
        t.irq(
            base + 2,
            Some(pci),
            &format!("mlx5_comp1@pci:{pci}"),
            "0-62",
        );
    }
    t.irq(170, Some(VF2), &format!("vfio-msix[0]({VF2})"), "0-62");
    t.irq(171, Some(VF2), &format!("vfio-msix[1]({VF2})"), "0-62");
    t.interrupts();
    t.config(MLX5_CONFIG);
    t
}

const INTEL_CONFIG: &str = r#"
[[pf]]
match = { name = "eth1" }
vfs = 7

[[pf]]
match = { name = "eth2" }
vfs = 7

[[pf]]
match = { pci = "0000:3b:00.0" }
vfs = 4
tune = { xps = false }

[tune]
irq_affinity = "numa-local"
xps = true
"#;

/// 8 CPUs on two nodes (0-3, 4-7). eth1: igb on node 1 (local_cpulist 4-7), `eth1-TxRx-0..3`
/// and the bare `eth1` misc vector. eth2: igb on the root bus (numa_node -1), split
/// `eth2-rx-N`/`eth2-tx-N` vectors. eth3: i40e-style names, node 0 known only by numa_node
/// (no local_cpulist), XPS turned off for it by a per-PF override. eth4 is not configured.
fn intel_host() -> Tree {
    let mut t = Tree::new("0-7", "0-7", &["0-3", "4-7"]);
    t.pci("0000:81:00.0", 1, Some("4-7"));
    t.pci("0000:00:03.0", -1, Some("0-7"));
    t.pci("0000:3b:00.0", 0, None);
    t.pci("0000:00:04.0", -1, Some("0-7"));
    t.netdev("0000:81:00.0", "eth1", 4, "00");
    t.netdev("0000:00:03.0", "eth2", 2, "00");
    t.netdev("0000:3b:00.0", "eth3", 2, "00");
    t.netdev("0000:00:04.0", "eth4", 1, "00");
    t.irq(50, Some("0000:81:00.0"), "eth1", "0-7");
    for q in 0..4 {
        t.irq(
            51 + q,
            Some("0000:81:00.0"),
            &format!("eth1-TxRx-{q}"),
            "0-7",
        );
    }
    t.irq(60, Some("0000:00:03.0"), "eth2", "0-7");
    t.irq(61, Some("0000:00:03.0"), "eth2-rx-0", "0-7");
    t.irq(62, Some("0000:00:03.0"), "eth2-rx-1", "0-7");
    t.irq(63, Some("0000:00:03.0"), "eth2-tx-0", "0-7");
    t.irq(64, Some("0000:00:03.0"), "eth2-tx-1", "0-7");
    t.irq(70, Some("0000:3b:00.0"), "i40e-0000:3b:00.0:misc", "0-7");
    t.irq(71, Some("0000:3b:00.0"), "i40e-eth3-TxRx-0", "0-7");
    t.irq(72, Some("0000:3b:00.0"), "i40e-eth3-TxRx-1", "0-7");
    t.irq(80, Some("0000:00:04.0"), "eth4-TxRx-0", "0-7");
    t.interrupts();
    t.config(INTEL_CONFIG);
    t
}

// ---- tests ---------------------------------------------------------------------------------------

#[test]
fn mlx5_host_plan_matches_golden() {
    let t = mlx5_host();
    golden("irq-mlx5-host.plan", &stdout_of(t.cmd().arg("--dry-run")));
}

#[test]
fn dry_run_changes_nothing() {
    let t = mlx5_host();
    let before = t.snapshot();
    stdout_of(t.cmd().arg("--dry-run"));
    assert_eq!(changed(&before, &t.snapshot()), BTreeMap::new());
}

#[test]
fn apply_writes_exactly_the_planned_files_and_a_rerun_writes_nothing() {
    let t = mlx5_host();
    let plan = stdout_of(t.cmd().arg("--dry-run"));
    let planned = plan.lines().filter(|l| !l.starts_with('#')).count();
    let before = t.snapshot();
    t.cmd().assert().success();
    let after = t.snapshot();
    let ch = changed(&before, &after);
    assert_eq!(ch.len(), planned, "changed: {ch:#?}\nplan:\n{plan}");
    assert!(ch
        .keys()
        .all(|k| k.ends_with("/smp_affinity_list") || k.ends_with("/xps_cpus")));
    // round robin over node 1's online CPUs (16-31,48-62), one CPU per queue
    assert_eq!(ch["proc/irq/142/smp_affinity_list"], "17");
    assert_eq!(ch["proc/irq/148/smp_affinity_list"], "23");
    assert_eq!(
        ch["sys/devices/pci0000:af/0000:af:00.0/0000:af:00.0/net/ens6f0/queues/tx-7/xps_cpus"],
        "00000000,00800000"
    );
    // VF 1 starts one CPU further than VF 0
    assert_eq!(ch["proc/irq/161/smp_affinity_list"], "16");
    assert_eq!(ch["proc/irq/166/smp_affinity_list"], "17");
    // left alone: already right, control vectors, the managed IRQ, vfio's, other devices'
    for irq in [141, 140, 150, 160, 165, 154, 170, 171, 40, 0] {
        assert!(
            !ch.contains_key(&format!("proc/irq/{irq}/smp_affinity_list")),
            "irq {irq} was written"
        );
    }
    // the managed IRQ's queue gets XPS where the kernel put the IRQ
    assert_eq!(
        ch["sys/devices/pci0000:af/0000:af:00.0/0000:af:00.1/net/ens6f1/queues/tx-3/xps_cpus"],
        "00000000,00080000"
    );
    // the second run: nothing to write, an empty plan
    t.cmd().assert().success();
    assert_eq!(changed(&after, &t.snapshot()), BTreeMap::new());
    let again = stdout_of(t.cmd().arg("--dry-run"));
    assert!(again.ends_with("nothing to do\n"), "{again}");
    assert!(!again
        .lines()
        .any(|l| !l.starts_with('#') && l != "nothing to do"));
}

#[test]
fn udev_run_for_one_vf_plans_and_writes_that_vf_only() {
    let t = mlx5_host();
    let plan = stdout_of(t.cmd().args(["--dry-run", "ens6f0v1"]));
    golden("irq-mlx5-vf.plan", &plan);
    // the same lines as the full run plans for this VF
    let full = stdout_of(t.cmd().arg("--dry-run"));
    for l in plan.lines().filter(|l| l.starts_with("ens6f0v1:")) {
        assert!(full.lines().any(|f| f == l), "{l}");
    }
    let before = t.snapshot();
    t.cmd().env("IFACE", "ens6f0v1").assert().success();
    let ch = changed(&before, &t.snapshot());
    let keys: Vec<&str> = ch.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "proc/irq/166/smp_affinity_list",
            "proc/irq/167/smp_affinity_list",
            "sys/devices/pci0000:af/0000:af:00.0/0000:af:00.3/net/ens6f0v1/queues/tx-0/xps_cpus",
            "sys/devices/pci0000:af/0000:af:00.0/0000:af:00.3/net/ens6f0v1/queues/tx-1/xps_cpus",
        ]
    );
}

#[test]
fn a_bond_means_its_configured_slaves() {
    let t = mlx5_host();
    assert_eq!(
        stdout_of(t.cmd().args(["--dry-run", "bond0"])),
        stdout_of(t.cmd().arg("--dry-run"))
    );
}

#[test]
fn interfaces_not_in_the_config_are_not_ours() {
    let t = intel_host();
    let before = t.snapshot();
    let out = t.cmd().args(["--dry-run", "eth4"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    t.cmd()
        .env("IFACE", "eth4")
        .assert()
        .success()
        .stdout("")
        .stderr("");
    assert_eq!(changed(&before, &t.snapshot()), BTreeMap::new());
}

#[test]
fn intel_host_plan_matches_golden() {
    let t = intel_host();
    golden("irq-intel-host.plan", &stdout_of(t.cmd().arg("--dry-run")));
}

#[test]
fn no_tune_section_changes_nothing() {
    // the operator's default: without [tune], irqbalance (or the driver) keeps placing IRQs
    let t = intel_host();
    t.config(&INTEL_CONFIG.replace("[tune]\nirq_affinity = \"numa-local\"\nxps = true\n", ""));
    golden(
        "irq-intel-no-tune.plan",
        &stdout_of(t.cmd().arg("--dry-run")),
    );
    let before = t.snapshot();
    let out = t.cmd().arg("-v").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("eth1: no [tune] key applies to it: irq-tune leaves it and its VFs alone"),
        "{err}"
    );
    assert_eq!(changed(&before, &t.snapshot()), BTreeMap::new());
}

#[test]
fn unknown_numa_node_spreads_over_all_online_cpus_and_says_why() {
    let t = intel_host();
    let out = t.cmd().arg("eth2").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("eth2: using all online CPUs: numa_node of 0000:00:03.0 is -1"),
        "{err}"
    );
    assert_eq!(t.read("proc/irq/61/smp_affinity_list"), "0");
    assert_eq!(t.read("proc/irq/62/smp_affinity_list"), "1");
    assert_eq!(t.read("proc/irq/63/smp_affinity_list"), "0");
    assert_eq!(
        t.read("proc/irq/60/smp_affinity_list"),
        "0-7\n",
        "misc vector untouched"
    );
    assert_eq!(t.read("sys/class/net/eth2/queues/tx-1/xps_cpus"), "02");
}

#[test]
fn per_pf_tune_turns_xps_off_for_that_pf() {
    let t = intel_host();
    t.cmd().assert().success();
    assert_eq!(t.read("proc/irq/72/smp_affinity_list"), "1");
    assert_eq!(t.read("sys/class/net/eth3/queues/tx-1/xps_cpus"), "00\n");
    assert_eq!(t.read("sys/class/net/eth1/queues/tx-1/xps_cpus"), "20");
}

#[test]
fn a_failed_device_names_the_file_fails_the_run_and_the_others_are_still_done() {
    let t = intel_host();
    let f = t.p("proc/irq/52/smp_affinity_list");
    fs::remove_file(&f).unwrap();
    fs::create_dir(&f).unwrap(); // EISDIR: eth1 cannot even be read
    fs::write(t.p("proc/irq/52/smp_affinity_list/x"), "").unwrap();
    let out = t.cmd().output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("proc/irq/52/smp_affinity_list"), "{err}");
    assert_eq!(t.read("proc/irq/61/smp_affinity_list"), "0");
    assert_eq!(t.read("proc/irq/72/smp_affinity_list"), "1");
}

#[test]
fn config_errors_exit_2_with_the_place() {
    let t = intel_host();
    t.config("[tune]\nrings = \"lots\"\n");
    let out = t.cmd().arg("--dry-run").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("config.toml:2:9: rings must be"), "{err}");
}
