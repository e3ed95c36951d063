#!/bin/sh
# The kernel floor, pre half: the minimal writes, no tooling (busybox sh builtins only).
# $FLOOR_PFS: PF PCI addresses; 7 VFs each, autoprobe off so they stay unbound.
P=/sys/bus/pci/devices
for pf in $FLOOR_PFS; do
    echo 0 > $P/$pf/sriov_drivers_autoprobe
    echo 7 > $P/$pf/sriov_numvfs
done
echo 4 > /sys/bus/netdevsim/devices/netdevsim1/sriov_numvfs
