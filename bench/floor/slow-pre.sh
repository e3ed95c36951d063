#!/bin/sh
# The kernel floor's VF creation for the slow-probe section: autoprobe off, numvfs on each PF of
# $FLOOR_PFS (the count in $FLOOR_N, default 7). Binding is bench-helper's (one thread: the
# sequential floor; one per VF: the parallel floor).
P=/sys/bus/pci/devices
for pf in $FLOOR_PFS; do
    echo 0 > $P/$pf/sriov_drivers_autoprobe
    echo "${FLOOR_N:-7}" > $P/$pf/sriov_numvfs
done
