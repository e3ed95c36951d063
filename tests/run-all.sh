#!/bin/bash
# Runs every test of the project on a fresh Debian bookworm machine (as root):
# installs what is missing, builds the real-kernel test bed (cached), then lint + all tests.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "test bed: packages, kernel, netdevsim, guest images (cached)"
tests/vm/setup.sh

step "format and lint"
cargo fmt --check
cargo clippy --all-targets -- -D warnings

step "tests (unit, fixture trees, network namespaces, VM scenarios)"
cargo test --all-targets --no-fail-fast -- --test-threads=2

step "fuzz the config parser for 60 s (fuzz/run.sh; installs cargo-fuzz from crates.io if missing)"
fuzz/run.sh 60
