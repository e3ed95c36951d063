#!/bin/bash
# Installs and builds everything the VM test bed needs, on Debian bookworm as root.
# Idempotent: a second run only checks (seconds). Everything built goes to $CACHE
# (SRIOV_TESTBED_CACHE, default /var/cache/sriov-offload-testbed), keyed by kernel version.
#
#   tests/vm/setup.sh            packages, kernel, netdevsim, both guest images
#   SRIOV_TESTBED_KVER=6.12.N+deb12-amd64 tests/vm/setup.sh    use that kernel instead of the newest
set -euo pipefail
# shellcheck source=tests/vm/common.sh
. "$(dirname "$0")/common.sh"

T0=$SECONDS
log() { printf '[testbed setup %4ds] %s\n' $((SECONDS - T0)) "$*"; }

[ "$(id -u)" = 0 ] || die "setup.sh must run as root (it installs packages)"
command -v apt-get >/dev/null || die "needs a Debian system (apt-get)"
mkdir -p "$CACHE"
exec 9>"$CACHE/.setup.lock"
flock 9

export DEBIAN_FRONTEND=noninteractive
APT_UPDATED=0
apt_update() {
    if [ "$APT_UPDATED" = 0 ]; then
        log "apt-get update"
        apt-get update -qq
        APT_UPDATED=1
    fi
}

# --- 1. apt sources: bookworm-backports (qemu >= 10) and bookworm-security (the 6.12 kernel) ---
ensure_suite() { # URI SUITE FILE
    local uri=$1 suite=$2 file=$3
    if ! grep -rqsE "^[^#]*\b${suite}\b" /etc/apt/sources.list /etc/apt/sources.list.d/; then
        log "adding apt suite $suite ($file)"
        cat >"$file" <<SRC
Types: deb
URIs: $uri
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        APT_UPDATED=0
        NEED_UPDATE=1
    fi
}
NEED_UPDATE=0
ensure_suite http://deb.debian.org/debian bookworm-backports /etc/apt/sources.list.d/bookworm-backports.sources
ensure_suite http://deb.debian.org/debian-security bookworm-security /etc/apt/sources.list.d/bookworm-security.sources
ls /var/lib/apt/lists/*bookworm-backports*Packages* >/dev/null 2>&1 || NEED_UPDATE=1
apt-cache show linux-source-$KSERIES >/dev/null 2>&1 || NEED_UPDATE=1
[ "$NEED_UPDATE" = 1 ] && apt_update

# --- 2. the guest kernel: newest linux-image-6.12.*+deb12-amd64 that has matching headers ---
newest_kver() {
    apt-cache search --names-only "^linux-image-${KSERIES//./\\.}\.[0-9]+\+deb12-amd64-unsigned\$" |
        awk '{print $1}' | sed 's/^linux-image-//; s/-unsigned$//' | sort -rV |
        while read -r v; do
            if apt-cache show "linux-headers-$v" >/dev/null 2>&1; then echo "$v"; break; fi
        done
}
KVER=${SRIOV_TESTBED_KVER:-$(newest_kver)}
if [ -z "$KVER" ]; then
    apt_update
    KVER=$(newest_kver)
fi
[ -n "$KVER" ] || die "no linux-image-$KSERIES.*+deb12-amd64-unsigned with headers found in apt"
KDIR=$CACHE/$KVER
mkdir -p "$KDIR"

# --- 3. host packages ---
pkg_installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }
# systemd: systemd-analyze verify of the units (tests/generator.rs); procps: pkill in
# run-scenario.sh; both absent from minimal images
PKGS=(busybox-static cpio xz-utils gzip debootstrap kmod "linux-headers-$KVER" "linux-source-$KSERIES"
    build-essential iproute2 ethtool strace systemd procps
    openvswitch-common)  # ovsdb-server for tests/ovs.rs (the OVSDB client against a real server)
missing=()
for p in "${PKGS[@]}"; do pkg_installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
        { apt_update; apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
fi
qemu_major() { dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null | sed -E 's/^[0-9]+://; s/\..*//'; }
if ! pkg_installed qemu-system-x86 || [ "$(qemu_major)" -lt 10 ]; then
    log "installing qemu-system-x86 from bookworm-backports"
    apt-get install -y -qq --no-install-recommends -t bookworm-backports qemu-system-x86 >/dev/null ||
        { apt_update; apt-get install -y -qq --no-install-recommends -t bookworm-backports qemu-system-x86 >/dev/null; }
fi
[ "$(qemu_major)" -ge 10 ] || die "qemu-system-x86 >= 10 needed (igb device), got $(qemu_major)"
# cargo-deb builds the project's .deb that the systemd boot scenarios install in the guest
if ! command -v cargo-deb >/dev/null; then
    log "installing cargo-deb from crates.io"
    cargo install --locked --quiet cargo-deb || die "cargo install cargo-deb failed"
fi

# --- 4. kernel image + modules, extracted into the cache (not installed on the host) ---
if [ ! -s "$KDIR/kernel/.done" ]; then
    log "downloading and extracting linux-image-$KVER-unsigned"
    mkdir -p "$CACHE/debs"
    download() {
        (cd "$CACHE/debs" && apt-get download -qq "linux-image-$KVER-unsigned" 2>&1 | grep -v 'unsandboxed' || true)
        ls -t "$CACHE/debs/linux-image-${KVER}-unsigned_"*.deb 2>/dev/null | head -1
    }
    deb=$(download)
    [ -f "$deb" ] || { apt_update && deb=$(download); } # stale lists: the mirror moved on
    [ -f "$deb" ] || die "download of linux-image-$KVER-unsigned failed"
    rm -rf "$KDIR/kernel"
    dpkg-deb -x "$deb" "$KDIR/kernel"
    basename "$deb" >"$KDIR/kernel/.done"
fi
MODROOT=$KDIR/kernel
[ -d "$MODROOT/lib/modules/$KVER" ] || [ -d "$MODROOT/usr/lib/modules/$KVER" ] || die "no modules in $deb"
[ -d "$MODROOT/lib/modules/$KVER" ] || MODROOT=$KDIR/kernel/usr
ln -sfn "kernel/boot/vmlinuz-$KVER" "$KDIR/vmlinuz"

# --- 5. netdevsim, built out of tree from linux-source against the headers ---
NDS=$KDIR/netdevsim
if [ ! -f "$NDS/netdevsim.ko" ]; then
    log "building netdevsim out of tree"
    rm -rf "$NDS" "$KDIR/src"
    mkdir -p "$KDIR/src"
    tarball=$(ls /usr/src/linux-source-$KSERIES.tar.* | head -1)
    tar -xf "$tarball" -C "$KDIR/src" "linux-source-$KSERIES/drivers/net/netdevsim"
    mv "$KDIR/src/linux-source-$KSERIES/drivers/net/netdevsim" "$NDS"
    rm -rf "$KDIR/src"
    make -s -C "/usr/src/linux-headers-$KVER" M="$NDS" CONFIG_NETDEVSIM=m -j"$(nproc)" modules >"$NDS/build.log" 2>&1 ||
        { cat "$NDS/build.log"; die "netdevsim build failed"; }
fi
mkdir -p "$MODROOT/lib/modules/$KVER/extra"
if ! cmp -s "$NDS/netdevsim.ko" "$MODROOT/lib/modules/$KVER/extra/netdevsim.ko"; then
    cp "$NDS/netdevsim.ko" "$MODROOT/lib/modules/$KVER/extra/"
    depmod -b "$MODROOT" "$KVER"
fi

# --- 5b. the firmware-bound probe model (probe-model/slowprobe.c), built the same way ---
# Test-only: not in the guest images (nothing loads it at boot); run-scenario.sh puts the .ko in
# every run's overlay as /opt/sriov-offload/modules/slowprobe.ko for scenarios to insmod.
PM=$KDIR/probe-model
PM_STAMP=$(inputs_hash "$TESTBED_DIR/probe-model/Kbuild" "$TESTBED_DIR/probe-model/slowprobe.c")
if [ ! -f "$PM/slowprobe.ko" ] || [ "$(cat "$PM/.stamp" 2>/dev/null)" != "$PM_STAMP" ]; then
    log "building the probe model (slowprobe) out of tree"
    rm -rf "$PM"
    mkdir -p "$PM"
    cp "$TESTBED_DIR/probe-model/Kbuild" "$TESTBED_DIR/probe-model/slowprobe.c" "$PM/"
    make -s -C "/usr/src/linux-headers-$KVER" M="$PM" -j"$(nproc)" modules >"$PM/build.log" 2>&1 ||
        { cat "$PM/build.log"; die "probe model build failed"; }
    echo "$PM_STAMP" >"$PM/.stamp"
fi

# --- 6. the guest images ---
echo "$KVER" >"$CACHE/current"
export KVER KDIR MODROOT
"$TESTBED_DIR/mk-modules.sh" | sed -u 's/^/  /'
"$TESTBED_DIR/mk-initramfs.sh" | sed -u 's/^/  /'
"$TESTBED_DIR/mk-systemd.sh" | sed -u 's/^/  /'

# --- 7. drop caches of other kernel versions ---
for d in "$CACHE"/*+deb12-amd64; do
    [ -d "$d" ] && [ "$d" != "$KDIR" ] && { log "removing old cache $d"; rm -rf "$d"; }
done
find "$CACHE/debs" -name 'linux-image-*.deb' ! -name "linux-image-${KVER}-unsigned_*" -delete 2>/dev/null || true

{
    echo "kernel:      $KVER ($(cat "$KDIR/kernel/.done"))"
    echo "headers:     $(dpkg-query -W -f='${Package} ${Version}' "linux-headers-$KVER")"
    echo "source:      $(dpkg-query -W -f='${Package} ${Version}' "linux-source-$KSERIES")"
    echo "qemu:        $(dpkg-query -W -f='${Package} ${Version}' qemu-system-x86)"
    echo "busybox:     $(dpkg-query -W -f='${Package} ${Version}' busybox-static)"
    echo "iproute2:    $(dpkg-query -W -f='${Package} ${Version}' iproute2)"
    echo "debootstrap: $(dpkg-query -W -f='${Package} ${Version}' debootstrap)"
} | tee "$KDIR/versions.txt"
log "done: cache $CACHE uses $(du -sh "$CACHE" | cut -f1) (initramfs $(du -h "$KDIR/initramfs.cpio.gz" | cut -f1), systemd $(du -h "$CACHE/debootstrap-bookworm.cpio.gz" | cut -f1) + $(du -h "$KDIR/systemd-kernel.cpio.gz" | cut -f1))"
