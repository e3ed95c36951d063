#!/bin/bash
# Stages the kernel modules of guest/modules.list (plus dependencies, decompressed) into
# $KDIR/modules/usr/lib/modules/$KVER and runs depmod there. Called by setup.sh.
set -euo pipefail
# shellcheck source=tests/vm/common.sh
. "$(dirname "$0")/common.sh"
: "${KVER:?}" "${KDIR:?}" "${MODROOT:?}"

OUT=$KDIR/modules
STAMP=$(inputs_hash "$0" "$TESTBED_DIR/guest/modules.list" "$KDIR/netdevsim/netdevsim.ko")
[ "$(cat "$OUT/.stamp" 2>/dev/null)" = "$STAMP" ] && exit 0

T0=$SECONDS
rm -rf "$OUT"
dst=$OUT/usr/lib/modules/$KVER
mkdir -p "$dst"
mapfile -t mods < <(grep -v '^#' "$TESTBED_DIR/guest/modules.list" | awk 'NF {print $1}')
for m in "${mods[@]}"; do
    out=$(modprobe -d "$MODROOT" -S "$KVER" --show-depends "$m" 2>&1) || die "module $m: $out"
    awk '$1 == "insmod" {print $2}' <<<"$out"
done | sort -u | while read -r path; do
    rel=${path#"$MODROOT/lib/modules/$KVER/"}
    mkdir -p "$dst/$(dirname "$rel")"
    case $rel in
    *.ko.xz) xz -dc "$path" >"$dst/${rel%.xz}" ;;
    *.ko.zst) zstd -qdc "$path" >"$dst/${rel%.zst}" ;;
    *) cp "$path" "$dst/$rel" ;;
    esac
done
cp "$MODROOT/lib/modules/$KVER"/modules.{order,builtin,builtin.modinfo} "$dst/"
depmod -b "$OUT/usr" "$KVER"
sed -n 's/^\([^#].*\)$/\1/p' "$TESTBED_DIR/guest/modules.list" >"$OUT/modules-load.conf"
echo "$STAMP" >"$OUT/.stamp"
echo "staged $(find "$dst" -name '*.ko' | wc -l) modules ($(du -sh "$dst" | cut -f1)) in $((SECONDS - T0))s"
