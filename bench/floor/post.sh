#!/bin/sh
# The kernel floor, post half: switchdev (the devlink tool: there is no sysfs file for it on
# netdevsim), each VF bound with driver_override + drivers_probe (synchronous), representors
# checked in /sys (no sleep), hw-tc-offload, autoprobe back on, marker.
# $FLOOR_VFS: the VFs' PCI addresses (known in advance: the floor does no discovery).
P=/sys/bus/pci/devices
/usr/sbin/devlink dev eswitch set netdevsim/netdevsim1 mode switchdev
for vf in $FLOOR_VFS; do
    echo igbvf > $P/$vf/driver_override
    echo $vf > /sys/bus/pci/drivers_probe
done
n=0
while [ $n -lt 4 ]; do
    n=0
    for f in /sys/class/net/*/phys_port_name; do
        x=
        { read -r x < "$f"; } 2>/dev/null
        case $x in pf0vf*) n=$((n + 1)) ;; esac
    done
done
/usr/sbin/ethtool -K eth2 hw-tc-offload on
for pf in $FLOOR_PFS; do echo 1 > $P/$pf/sriov_drivers_autoprobe; done
mkdir -p /run/floor
: > /run/floor/ready
