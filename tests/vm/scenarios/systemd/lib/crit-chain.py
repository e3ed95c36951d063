#!/usr/bin/python3
"""Checks `systemd-analyze critical-chain UNIT` (on stdin) for idle waits.

Each line is a unit that became active at @T after starting for +D (no +D: a device or a target,
active at once). The line below a unit is the dependency it was ordered after that became active
last, so the unit could start at (@T + +D) of that line. The gap between that moment and the
unit's own start is time the unit's job sat waiting for nothing in the chain: an idle wait.
Prints the chain with the gaps, then shell assignments:
  C_LINKS     number of units in the chain
  C_MAXGAP_MS the largest gap
  C_WAITS     'unit gap_ms|...' for gaps over the tolerance (argv[1] ms, default 500)
  C_DUR_<n>   +D in ms of sriov-offload-<n>.service, C_AT_<n> its start @T in ms
"""
import re
import sys

TOL = int(sys.argv[1]) if len(sys.argv) > 1 else 500


def span_ms(s):
    total = 0.0
    for num, unit in re.findall(r"([\d.]+)(min|ms|us|s|h)", s):
        total += float(num) * {"h": 3600e3, "min": 60e3, "s": 1e3, "ms": 1, "us": 1e-3}[unit]
    return total


chain = []
for line in sys.stdin:
    m = re.match(r"^[\s└─│├]*([^\s@]+) @((?:[\d.]+(?:min|ms|us|h|s) ?)+)(?:\+(.*))?$", line.rstrip())
    if not m:
        continue
    name, at, dur = m.group(1), span_ms(m.group(2)), span_ms(m.group(3) or "")
    chain.append((name, at, dur))

vals = {"C_LINKS": len(chain), "C_MAXGAP_MS": 0, "C_WAITS": ""}
waits = []
for i, (name, at, dur) in enumerate(chain):
    if i + 1 < len(chain):
        below = chain[i + 1]
        gap = at - (below[1] + below[2])
        vals["C_MAXGAP_MS"] = max(vals["C_MAXGAP_MS"], int(round(gap)))
        if gap > TOL:
            waits.append("%s %d" % (name, gap))
        print("#   %-45s start %9.3fs  +%8.3fs  gap after %s: %d ms" % (name, at / 1e3, dur / 1e3, below[0], gap))
    else:
        print("#   %-45s start %9.3fs  +%8.3fs" % (name, at / 1e3, dur / 1e3))
    m = re.match(r"sriov-offload-(\w+)\.service$", name)
    if m:
        vals["C_DUR_" + m.group(1).upper()] = int(round(dur))
        vals["C_AT_" + m.group(1).upper()] = int(round(at))
vals["C_WAITS"] = "|".join(waits)
for k, v in vals.items():
    print("%s='%s'" % (k, v))
