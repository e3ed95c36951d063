#!/usr/bin/env python3
"""bench/results.md from the guest's "R ..." lines (bench/last-run.log) and, optionally, the
build host's start-up lines (bench/host-startup.log). Used by bench/run.sh."""
import re
import statistics
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree
from report_slow import slow_section  # noqa: E402

log = open(sys.argv[1]).read().splitlines()
host = open(sys.argv[2]).read().splitlines() if len(sys.argv) > 2 else []
load = open(sys.argv[3]).read().strip().splitlines() if len(sys.argv) > 3 else []


def kv(s):
    return {k: v for k, v in re.findall(r"(\w+)=(\S+)", s)}


flows, exp, wake, startup, strace, irq = {}, {}, {}, [], {}, []
meta = {}
for line in log:
    if line.startswith("=== scenario") and " on " in line:
        meta["kernel"] = line.split(" on ")[1].split(",")[0]
    m = re.match(r"# (\d+) vCPUs", line)
    if m:
        meta["cpus"] = m.group(1)
    if not line.startswith("R "):
        continue
    f = line.split()
    kind = f[1]
    if kind == "flow":
        d = kv(line)
        flows.setdefault(f[2], []).append(d)
    elif kind == "exp":
        exp.setdefault(f[2], []).append(kv(line))
    elif kind == "wake":
        wake[f[2]] = kv(line)
    elif kind == "startup":
        startup.append((f[2], kv(line)))
    elif kind == "strace":
        strace[f[2]] = kv(line)
    elif kind == "irq":
        irq.append(kv(line))


def med(v):
    return statistics.median(v)


def ms(us, d=0):
    return f"{us / 1000:.{d}f}"


out = []
p = out.append
rounds = len(flows.get("ours", []))
p("# Boot-time benchmark: seed scripts vs sriov-offload vs the kernel floor")
p("")
p(f"`bench/run.sh`, one boot of the test bed VM (`tests/vm`: QEMU TCG, {meta.get('cpus', '?')} vCPUs "
  f"on a 2-core host, kernel {meta.get('kernel', '?')}), two igb PFs with 7 VFs each (igbvf) and a "
  "netdevsim PF with 4 VFs in switchdev mode. Absolute times are those of an emulated machine "
  "(several times slower than hardware, and other VMs may share the host): read the ratios. "
  "Medians over the rounds; the raw output is `bench/last-run.log`.")
if load:
    p("")
    p("Host load during the run (other sessions' VMs share the 2 cores): " + "; ".join(f"`{l}`" for l in load) + ".")
p("")

# --- flows ---
tot = {k: [int(d["pre_us"]) + int(d["post_us"]) for d in v] for k, v in flows.items()}
pre = {k: [int(d["pre_us"]) for d in v] for k, v in flows.items()}
post = {k: [int(d["post_us"]) for d in v] for k, v in flows.items()}
st = {name: d for name, d in startup}


def st_med(key):
    for name, d in startup:
        if name == key:
            return int(d["med_us"])
    return 0


su_pre = st_med("/opt/sriov-offload/bin/vf-pre:--config")
su_post = st_med("/opt/sriov-offload/bin/vf-post:--config")
sleeps_seed = strace.get("seed", {})
sleeps_ours = sum(int(strace.get(k, {}).get(s, 0)) for k in ("ours_pre", "ours_post")
                  for s in ("nanosleep", "clock_nanosleep", "select", "pselect6"))
polls_ours = sum(int(strace.get(k, {}).get(s, 0)) for k in ("ours_pre", "ours_post")
                 for s in ("poll", "ppoll", "epoll_wait", "epoll_pwait"))
seed_sleeps = sum(int(sleeps_seed.get(s, 0)) for s in ("nanosleep", "clock_nanosleep", "select", "pselect6"))

p("## Time to the readiness marker")
p("")
p("Same work in each flow, from the same reset state (numvfs 0, autoprobe 1, markers removed): "
  "14 igb VFs created and bound to igbvf, netdevsim 4 VFs → switchdev → 4 representors, "
  "hw-tc-offload on, marker. *pre* = ifupdown `pre-up` half, *post* = `post-up` half (the bond "
  "enslavement between them is the same for all and not timed). The order of the three flows "
  "rotates each round.")
p("")
p("| flow | what runs | pre (ms) | post (ms) | total median (ms) | min–max (ms) | rounds | sleep calls |")
p("|---|---|---:|---:|---:|---:|---:|---:|")
desc = {
    "seed": "`bond.offload.pre` + `bond.offload.post` (sleep 0.5 per VF bind, sleep 1 polls), to `/tmp/vf_done.offload`",
    "ours": "`vf-pre` + `vf-post`, to `/run/sriov-offload/ready`",
    "floor": "raw sysfs writes from busybox sh (+ `devlink`, `ethtool`), no discovery, no checks",
}
for k in ("seed", "ours", "floor"):
    if k not in tot:
        continue
    sl = {"seed": str(seed_sleeps), "ours": str(sleeps_ours), "floor": "0"}[k]
    p(f"| {k} | {desc[k]} | {ms(med(pre[k]))} | {ms(med(post[k]))} | **{ms(med(tot[k]))}** | "
      f"{ms(min(tot[k]))}–{ms(max(tot[k]))} | {len(tot[k])} | {sl} |")
p("")
r_so = med(tot["seed"]) / med(tot["ours"])
r_of = med(tot["ours"]) / med(tot["floor"])
budget = 1.05 * med(tot["floor"]) + su_pre + su_post
polls = [int(d.get("polls", 0)) for d in flows["seed"]]
p(f"- **seed / ours = {r_so:.2f}×** (post-up alone: {med(post['seed']) / med(post['ours']):.1f}×); "
  f"the seed's sleeps: {seed_sleeps} `sleep` calls (14 × 0.5 s after the binds; its 1 s poll loop "
  f"slept {med(polls):.0f} time(s) per round here because netdevsim creates the representors inside "
  "the devlink call).")
p(f"- **ours / floor = {r_of:.2f}×** (ours − floor = {ms(med(tot['ours']) - med(tot['floor']))} ms; "
  f"pre {med(pre['ours']) / med(pre['floor']):.2f}×, post {med(post['ours']) / med(post['floor']):.2f}×).")
met = med(tot["ours"]) <= budget
p(f"- Target ours ≤ 1.05 × floor + start-up of vf-pre and vf-post = 1.05 × {ms(med(tot['floor']))} + "
  f"{ms(su_pre)} + {ms(su_post)} = {ms(budget)} ms: **{'met' if met else 'missed'}** "
  f"({ms(med(tot['ours']))} ms); zero sleep calls: **{'met' if sleeps_ours == 0 else 'missed'}** "
  f"({sleeps_ours} sleeps; {polls_ours} poll(2) calls: see below).")
p(f"- Target (issue 17) ours ≤ 1.05 × floor, with the probe pool (`probe_jobs` auto: igbvf "
  f"probes 4 at a time per PF here, the floor one after the other): "
  f"**{'met' if r_of <= 1.05 else 'missed'}** ({r_of:.2f}×).")
p("")

# --- per-VF costs ---
def e_tot(name):
    v = [int(d["total_us"]) for d in exp.get(name, [])]
    return med(v) if v else float("nan")


c_create0 = e_tot("numvfs_ap0_seq") / 14 / 1000
c_create1 = e_tot("numvfs_ap1_seq") / 14 / 1000
c_unbind = e_tot("unbind_14") / 14 / 1000
c_bind = e_tot("bind14_t1") / 14 / 1000
n_exp = len(exp.get("bind14_t1", []))
p(f"## Per-VF costs (raw sysfs, bench-helper, median of {n_exp} rounds)")
p("")
p("| operation | per VF (ms) | measured as |")
p("|---|---:|---|")
p(f"| create, autoprobe off | {c_create0:.1f} | `sriov_numvfs` 0 → 7 on both PFs, sequential, / 14 |")
p(f"| create, autoprobe on (includes the igbvf probe) | {c_create1:.1f} | the same with autoprobe 1 (the seed's `pre`) |")
p(f"| unbind | {c_unbind:.1f} | `drivers/igbvf/unbind`, 14 VFs (the seed's `pre`) |")
p(f"| bind (probe) | {c_bind:.1f} | `driver_override` + `drivers_probe`, 14 VFs, one thread |")
p("")
seed_vf = c_create1 + c_unbind + c_bind + 500
ours_vf = c_create0 + c_bind
p("## Extrapolation to the seed's real case: 2 PFs × 32 VFs")
p("")
p("T(64 VFs) = T(14 VFs, measured median) + 50 × per-VF cost, with the per-VF costs above: "
  f"seed {seed_vf:.0f} ms per VF (create with probe + unbind + bind + `sleep 0.5`), ours and floor "
  f"{ours_vf:.0f} ms per VF (create without probe + bind). The seed probes every VF twice "
  "(autoprobe at creation, then again at the bind after the unbind); ours probes once.")
p("")
p("| flow | 14 VFs measured (s) | 64 VFs extrapolated (s) | of which sleeping (s) |")
p("|---|---:|---:|---:|")
ext = {}
for k, c in (("seed", seed_vf), ("ours", ours_vf), ("floor", ours_vf)):
    ext[k] = med(tot[k]) + 50 * c * 1000
    sl = "32.0" if k == "seed" else "0"
    p(f"| {k} | {med(tot[k]) / 1e6:.2f} | {ext[k] / 1e6:.1f} | {sl} |")
p("")
p(f"Extrapolated seed / ours = **{ext['seed'] / ext['ours']:.1f}×**, ours / floor = "
  f"{ext['ours'] / ext['floor']:.2f}×. On a real ConnectX host the probe itself costs more than an "
  "emulated igbvf's; both pay it, the seed twice, and the seed's 32 s of `sleep 0.5` stay.")
p("")

# --- parallel binding ---
p(f"## Parallel binding (raw sysfs, median of {n_exp} rounds)")
p("")
p("| experiment | total (ms) | vs sequential |")
p("|---|---:|---:|")
b1 = e_tot("bind14_t1")
rows = [("14 VFs (2 PFs), one thread (sequential)", "bind14_t1", b1),
        ("14 VFs, one thread per PF (ours with `probe_jobs = 1`)", "bind14_perpf", b1),
        ("14 VFs, 2 threads over all VFs", "bind14_t2", b1),
        ("14 VFs, 4 threads", "bind14_t4", b1),
        ("14 VFs, 14 threads", "bind14_t14", b1)]
p7 = e_tot("bind7pf1_t1")
rows += [(f"7 VFs of one PF, {k} thread(s)", f"bind7pf1_t{k}", p7) for k in (1, 2, 4, 7)]
c0, c0p = e_tot("numvfs_ap0_seq"), e_tot("numvfs_ap0_par")
for label, name, base in rows:
    v = e_tot(name)
    p(f"| {label} | {ms(v)} | {base / v:.2f}× |")
p(f"| create 7 + 7 VFs, PFs one after the other | {ms(c0)} | 1.00× |")
p(f"| create 7 + 7 VFs, both PFs at once | {ms(c0p)} | {c0 / c0p:.2f}× |")
p("")
best = max(((b1 / e_tot(n), l) for l, n, _ in rows[1:5]), default=(0, ""))
best1 = max(((p7 / e_tot(n), l) for l, n, _ in rows[6:]), default=(0, ""))
p(f"(× > 1: faster than sequential.) Best across PFs: {best[0]:.2f}× ({best[1]}); best within one "
  f"PF: {best1[0]:.2f}× ({best1[1]}). Probing is CPU work in the emulated kernel and the VM's 4 "
  "vCPUs run on 2 host cores shared with other VMs, so the gain depends on free host CPU (an "
  "earlier run under two other VMs measured 0.66–1.17×); per-VF times grow with the thread count "
  "(`per_vf` in the log). VF creation (`sriov_numvfs`), ~5× the binding time, does not overlap "
  "across PFs at all.")
p("")

# --- wake ---
wo, ws = wake.get("ours", {}), wake.get("seed", {})
p("## wait-offload: marker → exit")
p("")
p("From `rename(2)` of the marker into place (written like the product writes it: temp file, "
  "fsync, rename) to the waiter's exit as seen by its parent's `wait4`; the waiter is blocked in "
  "`poll(2)` before the rename.")
p("")
p("| waiter | samples | median (ms) | p90 (ms) | max (ms) |")
p("|---|---:|---:|---:|---:|")
if wo:
    p(f"| `wait-offload` (inotify) | {wo['n']} | **{ms(int(wo['med_us']), 1)}** | {ms(int(wo['p90_us']), 1)} | {ms(int(wo['max_us']), 1)} |")
if ws:
    p(f"| seed `rc.local.wait_offload` (`sleep 1` loop), marker at a random phase | {ws['n']} | {ms(int(ws['med_us']))} | {ms(int(ws['p90_us']))} | {ms(int(ws['max_us']))} |")
p("| seed, analytic: uniform 0–1000 ms | — | 500 | 900 | 1000 |")
p("")

# --- start-up ---
def label(k):
    b, a = k.split(":", 1)
    b = b.rsplit("/", 1)[-1]
    return f"`{b} {a}`".replace(" `", "`").strip()


p(f"## Start-up and peak RSS (in the VM, spawn → `wait4`, {startup[0][1]['n'] if startup else '?'} samples after 3 warm-up runs)")
p("")
base = st_med("/opt/sriov-offload/bin/bench-helper:noop")
p("| command | median (ms) | p90 (ms) | median − noop (ms) | peak RSS (KiB) |")
p("|---|---:|---:|---:|---:|")
names = {
    "/opt/sriov-offload/bin/bench-helper:noop": "`bench-helper noop` (a do-nothing Rust binary: the spawn baseline)",
    "/bin/true:": "`/bin/true` (static busybox)",
    "/opt/sriov-offload/bin/vf-pre:--config": "`vf-pre --config EMPTY` (whole path: args, config, exit)",
    "/opt/sriov-offload/bin/vf-post:--config": "`vf-post --config EMPTY`",
    "/opt/sriov-offload/bin/irq-tune:--config": "`irq-tune --config EMPTY`",
    "/opt/sriov-offload/bin/wait-offload:--timeout": "`wait-offload` with the marker already there",
}
for k, d in startup:
    n = names.get(k, "`" + k.rsplit("/", 1)[-1].replace(":", " ") + "`")
    p(f"| {n} | {ms(int(d['med_us']), 1)} | {ms(int(d['p90_us']), 1)} | {ms(int(d['med_us']) - base, 1)} | {d.get('maxrss_kib', '—')} |")
rss = [(k, int(d["pre_rss"]), int(d["post_rss"])) for k, d in [("ours", x) for x in flows["ours"]]]
p("")
p(f"Peak RSS of the real runs (flow rounds): vf-pre ≤ {max(r[1] for r in rss)} KiB, vf-post ≤ "
  f"{max(r[2] for r in rss)} KiB; irq-tune ≤ {max(int(d['maxrss_kib']) for d in irq) if irq else '?'} KiB. "
  "RSS is `ru_maxrss` from `wait4`, which cannot be lower than the spawning helper's own RSS "
  f"(~{startup[0][1]['helper_rss_kib'] if startup else '?'} KiB): values at that level mean "
  "\"at most that\".")
if host:
    p("")
    p("On the build host (no emulation; spawn → `wait4`):")
    p("")
    p("| command | median (ms) | p90 (ms) | peak RSS (KiB) |")
    p("|---|---:|---:|---:|")
    for line in host:
        if not line.startswith("H "):
            continue
        k = line.split()[1]
        d = kv(line)
        p(f"| `{k.replace(':', ' ')}` | {ms(int(d['med_us']), 2)} | {ms(int(d['p90_us']), 2)} | {d.get('maxrss_kib', '—')} |")
p("")

# --- strace ---
p("## Sleep and poll calls (`strace -f -c -e trace=nanosleep,clock_nanosleep,select,pselect6,poll,ppoll,epoll_wait,epoll_pwait`)")
p("")
p("| run | calls |")
p("|---|---|")
for k, lab in (("ours_pre", "vf-pre"), ("ours_post", "vf-post"), ("seed", "seed pre + post")):
    d = strace.get(k, {})
    p(f"| {lab} | {', '.join(f'{a} {b}' for a, b in d.items()) or 'none'} |")
p("")
p("Ours makes no sleep call. Its `poll` calls are listed with their arguments in the `vf-pre calls` / "
  "`vf-post calls` lines of `bench/last-run.log`: the Rust runtime's start-up check of fds 0–2 "
  "(`poll(..., 3, 0)`, timeout 0), and any wait on netlink/inotify events with a deadline (none "
  "blocked here: the representors existed at the first check).")
p("")
if irq:
    p("## irq-tune")
    p("")
    p("PFs and VFs up (igb requests its vectors only then); three runs: "
      + ", ".join(f"{ms(int(d['us']))} ms" for d in irq)
      + ". The first run changes rings, which makes igb reset each device (the kernel's cost); "
      "later runs find nothing to change.")
    p("")
out += slow_section(log)
print("\n".join(out))
