#!/usr/bin/python3
"""Reads this boot's journal (journalctl -b -o json) and prints, as shell assignments and
comment lines, what the boot scenarios compare: bond enslavement times (kernel messages, their
printk time), every sriov-offload step record (MESSAGE_ID of src/log.rs) and the binaries'
summary lines, all in microseconds of CLOCK_MONOTONIC (the clock of systemctl's *Monotonic
properties)."""
import json
import re
import subprocess
import sys
from collections import Counter

STEP_ID = "5a1b7e0f2c6d4e8a9b3c1d2e4f607182"
TOOLS = ("vf-pre", "vf-post", "irq-tune")

out = subprocess.run(["journalctl", "-b", "-o", "json", "--no-pager"],
                     capture_output=True, text=True).stdout
enslave, bind, steps, summaries = [], [], [], []
for line in out.splitlines():
    try:
        e = json.loads(line)
    except ValueError:
        continue
    msg = e.get("MESSAGE")
    if not isinstance(msg, str):
        continue
    t = int(e.get("_SOURCE_MONOTONIC_TIMESTAMP") or e["__MONOTONIC_TIMESTAMP"])
    if e.get("_TRANSPORT") == "kernel" and re.search(r"bond0: \(slave \w+\): Enslaving", msg):
        enslave.append((t, msg))
    if e.get("_TRANSPORT") == "kernel" and re.match(r"igbvf 0000:", msg):
        bind.append((t, msg))
    ident = e.get("SYSLOG_IDENTIFIER", "")
    unit = e.get("_SYSTEMD_UNIT", "?")
    if e.get("MESSAGE_ID") == STEP_ID:
        steps.append((t, ident, unit, e.get("SRIOV_PF", ""), e.get("SRIOV_STEP", ""), msg))
    elif ident in TOOLS and re.search(r"\d+ step\(s\), \d+ write\(s\)", msg):
        summaries.append((t, ident, unit, msg.replace("\n", " ")))

def us(t):
    return "%.3fs" % (t / 1e6)

for t, msg in enslave:
    print("# %s kernel: %s" % (us(t), msg.strip()))
for t, msg in bind[:1] + bind[-1:]:
    print("# %s kernel: %s (%s of %d igbvf probe messages)" % (us(t), msg.strip(), "first" if t == bind[0][0] else "last", len(bind)))
for t, ident, unit, pf, step, msg in steps:
    print("# %s %s [%s] %s %s: %s" % (us(t), ident, unit, pf, step, msg.replace("\n", " ")))
for t, ident, unit, msg in summaries:
    print("# %s %s [%s] %s" % (us(t), ident, unit, msg))

def first(ts):
    return min(ts) if ts else 0

def last(ts):
    return max(ts) if ts else 0

pre = [s[0] for s in steps if s[1] == "vf-pre"]
post = [s[0] for s in steps if s[1] == "vf-post"]
irq = [s[0] for s in steps if s[1] == "irq-tune"]
# vf-post waiting for the bond's slaves (systemd-networkd enslaves after network.target)
wait_slaves = [s[0] for s in steps if s[1] == "vf-post" and s[4] == "wait-slaves"]
# a step taken twice for the same PF (by the hook and the unit, or twice by one of them)
dups = [k for k, n in Counter((s[3], s[4], s[5]) for s in steps if s[1] in ("vf-pre", "vf-post")).items() if n > 1]
vals = {
    "J_ENSLAVE_N": len(enslave),
    "J_ENSLAVE_FIRST": first([t for t, _ in enslave]),
    "J_ENSLAVE_LAST": last([t for t, _ in enslave]),
    "J_BIND_N": len(bind), "J_BIND_FIRST": first([t for t, _ in bind]),
    "J_PRE_N": len(pre), "J_PRE_LAST": last(pre),
    "J_POST_N": len(post), "J_POST_FIRST": first(post), "J_POST_LAST": last(post),
    "J_IRQ_N": len(irq), "J_IRQ_FIRST": first(irq),
    "J_WAITSLAVES_N": len(wait_slaves), "J_WAITSLAVES_LAST": last(wait_slaves),
    "J_DUPS": "|".join("%s %s" % (k[0], k[1]) for k in dups),
    "J_UNITS_PRE": " ".join(sorted({s[2] for s in steps if s[1] == "vf-pre"})),
    "J_UNITS_POST": " ".join(sorted({s[2] for s in steps if s[1] == "vf-post"})),
}
# the run time each of our units' binary reported itself ("N step(s), M write(s), X ms")
for name in ("pre", "post", "irq"):
    ms = [re.search(r"(\d+) ms", m) for _, _, u, m in summaries if u == "sriov-offload-%s.service" % name]
    vals["J_MS_" + name.upper()] = ms[-1].group(1) if ms and ms[-1] else ""
for k, v in vals.items():
    print("%s='%s'" % (k, v))
