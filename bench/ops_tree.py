#!/usr/bin/env python3
"""Builds a fixture tree of a configured mlx5 host for bench/ops.sh: PFS ConnectX PFs in
switchdev with VFS VFs each, every VF bound to mlx5_core with its netdev and representor, 8
completion vectors per PF and 2 per VF in /proc/interrupts, this boot's ready marker; laid out
like tests/common/mod.rs (the same relative sysfs links the kernel makes).

    bench/ops_tree.py DIR PFS VFS
"""
import json
import os
import sys

root, npf, nvf = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
BOOT_ID = "5f1c1f7e-0d7b-4b5e-9a55-0c1e6f1e2a01"


def p(rel):
    return os.path.join(root, rel)


def write(rel, text):
    path = p(rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def link(target_rel, at_rel):
    """A relative symlink at `at_rel` to `target_rel` (both relative to the root)."""
    at = p(at_rel)
    os.makedirs(os.path.dirname(at), exist_ok=True)
    os.symlink(os.path.relpath(p(target_rel), os.path.dirname(at)), at)


def pci_dir(bdf):
    return f"sys/devices/pci0000:3a/0000:3a:00.0/{bdf}"


def netdev(dev, name, flags, mac, switch_id=None, port=None):
    nd = f"{dev}/net/{name}"
    write(f"{nd}/flags", f"{flags}\n")
    write(f"{nd}/address", f"{mac}\n")
    write(f"{nd}/ifindex", f"{abs(hash(name)) % 100000 + 10}\n")
    if switch_id:
        write(f"{nd}/phys_switch_id", f"{switch_id}\n")
    if port:
        write(f"{nd}/phys_port_name", f"{port}\n")
    link(dev, f"{nd}/device")
    link(nd, f"sys/class/net/{name}")


write("proc/sys/kernel/random/boot_id", BOOT_ID + "\n")
write("proc/sys/kernel/hostname", "hv-bench\n")
write("proc/sys/kernel/osrelease", "6.1.0-28-amd64\n")
write("proc/cmdline", "BOOT_IMAGE=/vmlinuz ro intel_iommu=on iommu=pt\n")
write("proc/cpuinfo", "processor\t: 0\nvendor_id\t: GenuineIntel\n")
write("dev/kmsg", "")
for i in range(64):
    os.makedirs(p(f"sys/kernel/iommu_groups/{i}/devices"), exist_ok=True)
write("sys/devices/system/cpu/online", "0-15\n")
write("sys/devices/system/cpu/possible", "0-15\n")
write("sys/devices/system/node/node0/cpulist", "0-15\n")
write("sys/bus/pci/drivers_probe", "")
for d in ("mlx5_core", "vfio-pci"):
    write(f"sys/bus/pci/drivers/{d}/bind", "")
link("usr/lib/systemd/system/sriov-offload.target",
     "etc/systemd/system/multi-user.target.wants/sriov-offload.target")

rows = []
irq = 100
pfs_cfg = []
for f in range(npf):
    name, bdf = f"ens1f{f}", f"0000:3b:00.{f}"
    dev = pci_dir(bdf)
    write(f"{dev}/sriov_numvfs", f"{nvf}\n")
    write(f"{dev}/sriov_totalvfs", f"{max(nvf, 128)}\n")
    write(f"{dev}/sriov_drivers_autoprobe", "1\n")
    write(f"{dev}/driver_override", "(null)\n")
    write(f"{dev}/numa_node", "0\n")
    write(f"{dev}/local_cpulist", "0-15\n")
    link("sys/bus/pci/drivers/mlx5_core", f"{dev}/driver")
    link("sys/bus/pci", f"{dev}/subsystem")
    link(dev, f"sys/bus/pci/devices/{bdf}")
    sw = f"e41d2d0300b1c2d{f}"
    netdev(dev, name, "0x1003", f"b8:59:9f:00:00:0{f}", sw, f"p{f}")
    write(f"{dev}/net/{name}/compat/devlink/mode", "switchdev\n")

    def vectors(bdf, dev, n):
        global irq
        for q in range(n):
            write(f"{dev}/msi_irqs/{irq}", "msix\n")
            write(f"proc/irq/{irq}/smp_affinity_list", f"{q % 16}\n")
            rows.append(f"{irq:>4}:          0          0  IR-PCI-MSI {9000 + irq}-edge      "
                        f"mlx5_comp{q}@pci:{bdf}")
            irq += 1

    vectors(bdf, dev, 8)
    for i in range(nvf):
        n = 2 + i
        vbdf = f"0000:{0x3c + f:02x}:{n // 8:02x}.{n % 8}"
        vdev = pci_dir(vbdf)
        link(vdev, f"{dev}/virtfn{i}")
        link(dev, f"{vdev}/physfn")
        link("sys/bus/pci", f"{vdev}/subsystem")
        link("sys/bus/pci/drivers/mlx5_core", f"{vdev}/driver")
        write(f"{vdev}/driver_override", "(null)\n")
        write(f"{vdev}/numa_node", "0\n")
        write(f"{vdev}/local_cpulist", "0-15\n")
        link(vdev, f"sys/bus/pci/devices/{vbdf}")
        netdev(vdev, f"{name}v{i}", "0x1002", f"02:00:00:00:{f:02x}:{i:02x}")
        netdev(dev, f"{name}_{i}", "0x1002", f"7e:00:00:00:{f:02x}:{i:02x}", sw, f"pf{f}vf{i}")
        vectors(vbdf, vdev, 2)
    pfs_cfg.append(f'[[pf]]\nmatch = {{ name = "{name}" }}\nvfs = {nvf}\n'
                   f'eswitch = "switchdev"\nbind = "mlx5_core"\n')

write("proc/interrupts", "            CPU0       CPU1\n" + "\n".join(rows) + "\n")
write("etc/sriov-offload/config.toml", "\n".join(pfs_cfg))
os.chmod(p("etc/sriov-offload/config.toml"), 0o644)
write("run/sriov-offload/ready", json.dumps({"boot_id": BOOT_ID, "time": 1700000000, "pfs": []}))
