#!/bin/bash
# Builds the systemd guest flavour: a minbase debootstrap of bookworm (kernel-independent,
# $CACHE/debootstrap-bookworm.cpio.gz) and a kernel-specific part with the staged modules and the
# scenario unit ($KDIR/systemd-kernel.cpio.gz). The guest boots base + kernel part + the per-run
# overlay concatenated, as the initramfs, with rdinit=/lib/systemd/systemd. Called by setup.sh.
set -euo pipefail
# shellcheck source=tests/vm/common.sh
. "$(dirname "$0")/common.sh"
: "${KVER:?}" "${KDIR:?}"

MIRROR=${SRIOV_TESTBED_MIRROR:-http://deb.debian.org/debian}
INCLUDE=systemd,systemd-sysv,udev,kmod,iproute2,ifupdown2,openvswitch-switch,ethtool,strace,procps
BASE=$CACHE/debootstrap-bookworm.cpio.gz
BASE_STAMP=$(echo "$INCLUDE $MIRROR v1" | sha256sum | cut -d' ' -f1)
if [ ! -f "$BASE" ] || [ "$(cat "$BASE.stamp" 2>/dev/null)" != "$BASE_STAMP" ]; then
    T0=$SECONDS
    R=$CACHE/debootstrap.tmp
    rm -rf "$R"
    debootstrap --variant=minbase --include="$INCLUDE" bookworm "$R" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
        { tail -30 "$CACHE/debootstrap.log"; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
    # shrink: nothing here is read in the guest
    rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/* "$R"/usr/share/doc/* \
        "$R"/usr/share/man/* "$R"/usr/share/info/* "$R"/usr/share/locale/*
    (cd "$R" && find . -mindepth 1 | LC_ALL=C sort >"${BASE%.cpio.gz}.files" &&
        cpio -o -H newc --quiet <"${BASE%.cpio.gz}.files" | gzip -6 >"$BASE.tmp")
    mv "$BASE.tmp" "$BASE"
    rm -rf "$R"
    echo "$BASE_STAMP" >"$BASE.stamp"
    echo "systemd guest base (debootstrap $INCLUDE): $(du -h "$BASE" | cut -f1) in $((SECONDS - T0))s"
fi

# .debs scenarios install with "# vm-debs:" (run-scenario.sh): classic ifupdown conflicts with
# the base's ifupdown2, ifenslave does its bonding
for pkg in ifupdown ifenslave; do
    ls "$CACHE/debs/${pkg}"_*.deb >/dev/null 2>&1 && continue
    mkdir -p "$CACHE/debs"
    (cd "$CACHE/debs" && apt-get download -qq "$pkg" 2>&1 | grep -v unsandboxed || true)
    ls "$CACHE/debs/${pkg}"_*.deb >/dev/null 2>&1 || die "apt-get download $pkg failed"
done

# file list of the base, so run-scenario.sh adds only shared libraries the base lacks
[ -s "${BASE%.cpio.gz}.files" ] || zcat "$BASE" | cpio -t --quiet >"${BASE%.cpio.gz}.files"

OUT=$KDIR/systemd-kernel.cpio.gz
STAMP=$(inputs_hash "$0" "$TESTBED_DIR/guest/run-scenario-in-guest" \
    "$TESTBED_DIR/guest/sriov-testbed-scenario.service" "$KDIR/modules/.stamp")
[ -f "$OUT" ] && [ "$(cat "$OUT.stamp" 2>/dev/null)" = "$STAMP" ] && exit 0
R=$(mktemp -d "$KDIR/systemd.XXXXXX")
trap 'rm -rf "$R"' EXIT
cd "$R"
mkdir -p usr/lib usr/local/sbin etc/modprobe.d etc/modules-load.d etc/systemd/system/multi-user.target.wants \
    opt/sriov-offload/bin
cp -a "$KDIR/modules/usr/lib/modules" usr/lib/
cp "$KDIR/modules/modules-load.conf" etc/modules-load.d/sriov-testbed.conf
printf "options bonding max_bonds=0\noptions dummy numdummies=0\n" >etc/modprobe.d/testbed.conf
cp "$TESTBED_DIR/guest/run-scenario-in-guest" usr/local/sbin/
cp "$TESTBED_DIR/guest/sriov-testbed-scenario.service" etc/systemd/system/
ln -s ../sriov-testbed-scenario.service etc/systemd/system/multi-user.target.wants/
echo systemd >opt/sriov-offload/flavour
echo sriov-testbed >etc/hostname
: >etc/fstab
find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -6 >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "$STAMP" >"$OUT.stamp"
echo "systemd guest kernel part built: $(du -h "$OUT" | cut -f1)"
