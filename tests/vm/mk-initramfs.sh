#!/bin/bash
# Builds the cached base initramfs of the fast guest flavour: busybox-static, iproute2 (ip,
# devlink, tc, bridge), ethtool, strace, glibc (so the project's host-built binaries run), the
# staged modules and guest/init. Output: $KDIR/initramfs.cpio.gz. Called by setup.sh.
set -euo pipefail
# shellcheck source=tests/vm/common.sh
. "$(dirname "$0")/common.sh"
: "${KVER:?}" "${KDIR:?}"

OUT=$KDIR/initramfs.cpio.gz
STAMP=$(inputs_hash "$0" "$TESTBED_DIR/guest/init" "$TESTBED_DIR/guest/run-scenario-in-guest" \
    "$KDIR/modules/.stamp" /bin/busybox /usr/bin/ip)
[ -f "$OUT" ] && [ "$(cat "$OUT.stamp" 2>/dev/null)" = "$STAMP" ] && exit 0

T0=$SECONDS
R=$(mktemp -d "$KDIR/initramfs.XXXXXX")
trap 'rm -rf "$R"' EXIT
cd "$R"
mkdir -p usr/bin usr/sbin usr/lib/x86_64-linux-gnu usr/lib64 usr/local/sbin etc/modprobe.d \
    etc/modules-load.d proc sys dev run tmp root mnt var opt/sriov-offload/bin
ln -s usr/bin bin
ln -s usr/sbin sbin
ln -s usr/lib lib
ln -s usr/lib64 lib64
ln -s ../run var/run
chmod 1777 tmp
mknod -m 600 dev/console c 5 1
mknod -m 666 dev/null c 1 3

# Copy a host file to the same canonical path in the image, with its shared libraries.
copy_file() {
    local real
    real=$(realpath "$1")
    [ -e ".$real" ] || { mkdir -p ".$(dirname "$real")" && cp -p "$real" ".$real"; }
    # keep the name it was asked by (e.g. /lib/x86_64-linux-gnu/libc.so.6 -> the real file)
    local asked
    asked=$(realpath -s "$1")
    asked="$(realpath "$(dirname "$asked")")/$(basename "$asked")"
    [ "$asked" = "$real" ] || [ -e ".$asked" ] || ln -s "$real" ".$asked"
}
copy_bin() {
    copy_file "$1"
    ldd "$1" 2>/dev/null | awk '/=> \// {print $3} /^[ \t]*\/.*ld-linux/ {print $1}' | while read -r lib; do
        copy_file "$lib"
    done
}
for b in /usr/bin/ip /sbin/devlink /sbin/tc /sbin/bridge /usr/sbin/ethtool /usr/bin/strace; do
    copy_bin "$b"
    n=$(basename "$b")
    # reachable as /sbin/NAME and /bin/NAME like on Debian
    for d in usr/sbin usr/bin; do [ -e "$d/$n" ] || ln -s "$(realpath "$b")" "$d/$n"; done
done
# what Rust binaries built on the host typically link against
for l in libc.so.6 libm.so.6 libgcc_s.so.1 libpthread.so.0 libdl.so.2 librt.so.1 libutil.so.1; do
    copy_file "/lib/x86_64-linux-gnu/$l"
done
copy_file /lib64/ld-linux-x86-64.so.2

cp /bin/busybox usr/bin/busybox
# applets where Debian has them (/sbin/modprobe is what the kernel's request_module runs);
# `busybox --list` includes busybox itself, and iproute2's tools installed above win.
for a in $(usr/bin/busybox --list-full); do
    n=${a##*/}
    [ "$n" = busybox ] && continue
    case $a in */*) ;; *) continue ;; esac # linuxrc
    case $a in usr/*) dir=${a%/*} ;; *) dir=usr/${a%/*} ;; esac
    [ -e "usr/bin/$n" ] || [ -e "usr/sbin/$n" ] || ln -s /usr/bin/busybox "$dir/$n"
done

cp -a "$KDIR/modules/usr/lib/modules" usr/lib/
cp "$KDIR/modules/modules-load.conf" etc/modules-load.d/sriov-testbed.conf
printf "options bonding max_bonds=0\noptions dummy numdummies=0\n" >etc/modprobe.d/testbed.conf
cp "$TESTBED_DIR/guest/init" init
cp "$TESTBED_DIR/guest/run-scenario-in-guest" usr/local/sbin/
echo initramfs >opt/sriov-offload/flavour
printf 'root:x:0:0:root:/root:/bin/sh\n' >etc/passwd
printf 'root:x:0:\n' >etc/group
echo sriov-testbed >etc/hostname
find . -mindepth 1 | LC_ALL=C sort >"${OUT%.cpio.gz}.files"
cpio <"${OUT%.cpio.gz}.files" -o -H newc -R 0:0 --quiet | gzip -6 >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "$STAMP" >"$OUT.stamp"
echo "initramfs guest image built: $(du -h "$OUT" | cut -f1) in $((SECONDS - T0))s"
