# Shared settings for the VM test bed scripts (sourced, not run).
# shellcheck disable=SC2034 # used by the scripts that source this
# shellcheck shell=bash

TESTBED_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Everything downloaded or built lives here, outside the repository, keyed by kernel version,
# so a fresh clone on the same machine reuses it.
CACHE=${SRIOV_TESTBED_CACHE:-/var/cache/sriov-offload-testbed}
# Kernel series the guest runs (Debian's bookworm-security backport of 6.12).
KSERIES=6.12

die() { printf 'testbed: error: %s\n' "$*" >&2; exit 1; }

# The kernel version the cache was last built for (written by setup.sh).
current_kver() {
    [ -r "$CACHE/current" ] || return 1
    cat "$CACHE/current"
}

# sha256 of the given files, one hash for all (stamps that rebuild a guest image when its
# inputs change).
inputs_hash() {
    cat "$@" | sha256sum | cut -d' ' -f1
}
