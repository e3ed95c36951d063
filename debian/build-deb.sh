#!/bin/bash
# Builds the .deb: the release binaries, their man pages and shell completions (generated from
# the binaries' own argument definitions by `sriov-offload generate-docs`), then cargo-deb.
#
#   debian/build-deb.sh [cargo-deb options]     e.g. -o DIR; needs `cargo install cargo-deb`
#
# SRIOV_DEB_NO_BUILD=1 packages the binaries already in $CARGO_TARGET_DIR/release (the VM
# test bed does: it packages the binaries under test). Output: target/debian/*.deb.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
[ "${SRIOV_DEB_NO_BUILD:-0}" = 1 ] || cargo build --release --bins
rm -rf "$target/release/generated"
"$target/release/sriov-offload" generate-docs "$target/release/generated"
# Debian policy: man pages compressed with gzip -9n (no name or time stamp: reproducible)
gzip -9n "$target/release/generated/man/"*.1
exec cargo deb --no-build "$@"
