#!/bin/bash
# The main job, on the real-kernel test bed: boots the VM and runs the whole offload flow with
# examples/testbed.toml (two igb PFs in a bond + a netdevsim switchdev PF) the way a host boots:
# vf-pre, bond enslavement, vf-post, irq-tune, then wait-offload; prints the plan, the
# resulting state, the VF map and the timings, and shows that a second run writes nothing.
#
#   tests/vm/demo.sh            (as root on Debian bookworm; installs and caches what it needs)
set -euo pipefail
cd "$(dirname "$0")/../.."
tests/vm/setup.sh >&2
cargo build --release --bins >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp tests/vm/demo/guest.sh "$work/demo.sh"
mkdir -p "$work/demo.d/etc/sriov-offload"
cp examples/testbed.toml "$work/demo.d/etc/sriov-offload/config.toml"
exec tests/vm/run-scenario.sh --bin-dir target/release "$work/demo.sh"
