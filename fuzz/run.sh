#!/bin/bash
# Fuzzes the config parser (fuzz_targets/config.rs) for a bounded time on stable Rust.
#   fuzz/run.sh [SECONDS]        default 60; installs cargo-fuzz from crates.io if missing
# Seeds: examples/*.toml and the bad-config corpus. Prints the executions and exits 1 with the
# input on a crash (also kept under fuzz/artifacts/config/). CARGO_TARGET_DIR is honoured.
#
# Stable Rust: `--sanitizer none` keeps cargo-fuzz's rustc flags to stable -C/--cfg ones (the
# default AddressSanitizer needs -Zsanitizer, i.e. nightly). The parser is safe Rust, so what
# the fuzzer looks for, panics and broken invariants (assertions in the target), needs no ASan.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
case $secs in '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz (crates.io)"
    t0=$SECONDS
    cargo install --locked cargo-fuzz
    echo "cargo-fuzz installed in $((SECONDS - t0)) s"
fi

corpus=corpus/config
mkdir -p "$corpus" artifacts/config
for f in ../examples/*.toml ../tests/bad-config/*.toml ../tests/bad-config/*/config.toml \
    ../tests/bad-config/*/conf.d/*.toml; do
    [ -f "$f" ] || continue
    # one flat name per seed (drop-in corpus entries share file names)
    name=seed-$(echo "${f#../}" | tr '/' '_')
    cp "$f" "$corpus/$name"
done

t0=$SECONDS
cargo fuzz build --sanitizer none config
echo "built in $((SECONDS - t0)) s; fuzzing for $secs s"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo fuzz run --sanitizer none config "$corpus" -- \
    -max_total_time="$secs" -max_len=8192 -timeout=10 -dict=config.dict \
    -print_final_stats=1 -artifact_prefix=artifacts/config/ >"$log" 2>&1
rc=$?
set -e
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
cov=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -1 | grep -o 'cov: [0-9]*' || true)
echo "fuzz config: ${execs:-?} execs in ${secs} s (${rate:-?}/s), ${cov:-cov: ?}, corpus $(ls "$corpus" | wc -l) inputs"
if [ $rc -ne 0 ]; then
    # the panic message (or libFuzzer's report) and the input that caused it
    grep -A2 -E 'panicked at|ERROR: libFuzzer' "$log" | head -20 || tail -40 "$log"
    for a in $(grep -o 'artifacts/config/[^ ]*' "$log" | sort -u); do
        [ -f "$a" ] || continue
        echo "--- crash input $a ($(wc -c <"$a") bytes):"
        cat -v "$a"
        echo
        echo "--- reproduce: (cd fuzz && cargo fuzz run --sanitizer none config $a)"
    done
    echo "fuzz config: FAILED (exit $rc)"
    exit 1
fi
echo "fuzz config: no crash"
