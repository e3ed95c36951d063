// SPDX-License-Identifier: GPL-2.0-only
/*
 * slowprobe: a model of a firmware-bound VF probe, for the sriov-offload test bed only (never
 * packaged, never loaded on a real host).
 *
 * On a ConnectX host, mlx5_core's probe of a VF spends most of its time waiting on firmware
 * commands (enable HCA, query and set capabilities, init HCA, give pages): users report 125 VFs
 * taking about 65 s to bind one after the other, 0.5 s per VF, with the CPU mostly idle. The test
 * bed's emulated igbvf probe is CPU work instead (single-threaded TCG runs every vCPU on one host
 * thread), so it cannot show what binding VFs in parallel buys. This driver's probe just sleeps
 * delay_ms (default 300: the order of one mlx5 VF probe; the benchmark also uses 100 and 1000),
 * which, like a firmware wait, needs no CPU, so probes overlap as far as the caller lets them.
 *
 * It has no ID table: it binds only a device whose driver_override names it
 *   echo slowprobe > /sys/bus/pci/devices/VF/driver_override
 *   echo VF > /sys/bus/pci/drivers_probe
 * and it touches no hardware (the igb VF stays idle).
 *
 * Parameters (/sys/module/slowprobe/parameters/, writable at run time):
 *   delay_ms   how long each probe sleeps
 *   fail_vf    a VF index (within its PF) whose probe fails with -EIO after the sleep; -1: none
 *   in_flight  probes running now (read only)
 *   peak       the most probes that ran at once; write 0 to reset
 *   probes     probes started; write 0 to reset
 */
#include <linux/delay.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/spinlock.h>

static unsigned int delay_ms = 300;
module_param(delay_ms, uint, 0644);
MODULE_PARM_DESC(delay_ms, "how long each probe sleeps, in ms (a firmware-bound probe)");

static int fail_vf = -1;
module_param(fail_vf, int, 0644);
MODULE_PARM_DESC(fail_vf, "VF index whose probe returns -EIO (-1: none)");

static DEFINE_SPINLOCK(count_lock);
static int in_flight;
module_param(in_flight, int, 0444);
MODULE_PARM_DESC(in_flight, "probes running now");
static int peak;
module_param(peak, int, 0644);
MODULE_PARM_DESC(peak, "most probes running at once (write 0 to reset)");
static int probes;
module_param(probes, int, 0644);
MODULE_PARM_DESC(probes, "probes started (write 0 to reset)");

static int slowprobe_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	int vf = pci_iov_vf_id(pdev); /* negative for a device that is not a VF */
	int ret = 0;

	spin_lock(&count_lock);
	in_flight++;
	probes++;
	if (in_flight > peak)
		peak = in_flight;
	spin_unlock(&count_lock);

	msleep(READ_ONCE(delay_ms));
	if (vf >= 0 && vf == READ_ONCE(fail_vf)) {
		pci_info(pdev, "slowprobe: VF %d: failing the probe as asked (fail_vf)\n", vf);
		ret = -EIO;
	}

	spin_lock(&count_lock);
	in_flight--;
	spin_unlock(&count_lock);
	return ret;
}

static void slowprobe_remove(struct pci_dev *pdev)
{
}

static struct pci_driver slowprobe_driver = {
	.name = "slowprobe",
	.id_table = NULL, /* driver_override only */
	.probe = slowprobe_probe,
	.remove = slowprobe_remove,
};
module_pci_driver(slowprobe_driver);

MODULE_DESCRIPTION("sriov-offload test bed: a VF probe that sleeps like a firmware-bound one");
MODULE_LICENSE("GPL");
