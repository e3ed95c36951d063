//! The netlink layer against the real kernel, each test in its own network namespace.
//!
//! Needs root (CAP_NET_ADMIN/CAP_SYS_ADMIN) and a kernel with network namespaces, veth and
//! bridge; every test fails loudly with the reason if it cannot set up its namespace. Fixtures
//! are made with iproute2's `ip` (allowed in tests only). SR-IOV, bonding, netdevsim and devlink
//! devices are not available here: `set_vf` success paths, eswitch mode and devlink ports are
//! covered in the VM tests.

use std::{
    process::Command,
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use nix::errno::Errno;
use sriov_offload::netlink::devlink::{Cmode, ParamValue};
use sriov_offload::netlink::{
    self, rss_hfunc, set_rss_hfunc, ChannelsSet, Devlink, DevlinkHandle, EswitchMode, Ethtool,
    Hfunc, LinkState, LinkWatcher, Rtnl, VfProps,
};

/// Runs `f` on a thread of its own inside a fresh network namespace; sockets it opens and `ip`
/// commands it runs live there. Panics (fails the test) with the reason if that is impossible.
fn in_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { nix::libc::geteuid() };
    assert_eq!(
        euid, 0,
        "tests/netns.rs must run as root: it creates network namespaces and links"
    );
    let h = thread::spawn(move || {
        // unshare(CLONE_NEWNET) moves only this thread; nix's `sched` feature is not enabled in
        // this crate, so call it through nix's libc re-export.
        // SAFETY: plain system call with a constant flag.
        let rc = unsafe { nix::libc::unshare(nix::libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "unshare(CLONE_NEWNET) failed: {} (kernel without CONFIG_NET_NS, or not privileged)",
            std::io::Error::last_os_error()
        );
        f()
    });
    match h.join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// `ip ARGS…` in the current thread's namespace; panics with its stderr on failure.
fn ip(args: &str) {
    let out = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .unwrap_or_else(|e| panic!("running `ip {args}`: {e} (is iproute2 installed?)"));
    assert!(
        out.status.success(),
        "`ip {args}` failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

fn msg(e: &anyhow::Error) -> String {
    format!("{e:#}")
}

fn assert_mentions(e: &anyhow::Error, needles: &[&str]) {
    let m = msg(e);
    for n in needles {
        assert!(m.contains(n), "error {m:?} should mention {n:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// rtnetlink: links

#[test]
fn links_report_kind_mac_admin_state_and_bridge_master() {
    in_netns(|| {
        ip("link add v0 type veth peer name v1");
        ip("link add br0 type bridge");
        ip("link set v0 master br0");
        ip("link set v0 address 02:00:00:00:00:10");
        ip("link set br0 up");

        let mut rt = Rtnl::new().unwrap();
        let links = rt.links().unwrap();
        let by_name = |n: &str| {
            links
                .iter()
                .find(|l| l.name == n)
                .unwrap_or_else(|| panic!("{n} missing from {links:?}"))
                .clone()
        };
        let (v0, v1, br0, lo) = (by_name("v0"), by_name("v1"), by_name("br0"), by_name("lo"));

        assert_eq!(v0.kind.as_deref(), Some("veth"));
        assert_eq!(br0.kind.as_deref(), Some("bridge"));
        assert_eq!(lo.kind, None, "loopback has no IFLA_INFO_KIND");
        assert_eq!(v0.master, Some(br0.index));
        assert_eq!(v1.master, None);
        assert_eq!(v0.mac, Some([2, 0, 0, 0, 0, 0x10]));
        assert!(br0.up && !v0.up && !v1.up);
        assert!(!v0.oper_up);
        assert_eq!(
            v0.num_vf, None,
            "a virtual device has no parent, so no IFLA_NUM_VF"
        );
        assert_eq!(v0.phys_switch_id, None);
        assert_eq!(v0.phys_port_name, None);
        let mut idx: Vec<u32> = links.iter().map(|l| l.index).collect();
        idx.dedup();
        assert_eq!(idx.len(), links.len(), "each link once");

        // link() by name and by index agree with the dump.
        assert_eq!(
            rt.link_by_index(v0.master.unwrap()).unwrap(),
            Some(br0.clone())
        );
        assert_eq!(rt.link("v0").unwrap(), Some(v0));
        assert_eq!(rt.link("br0").unwrap(), Some(br0));
    });
}

#[test]
fn link_lookup_of_missing_interface_is_none_and_bad_name_is_an_error() {
    in_netns(|| {
        let mut rt = Rtnl::new().unwrap();
        assert_eq!(rt.link("nosuch0").unwrap(), None);
        assert_eq!(rt.link_by_index(999_999).unwrap(), None);
        let e = rt.link("a-name-longer-than-15").unwrap_err();
        assert_mentions(&e, &["a-name-longer-than-15", "not a valid interface name"]);
    });
}

#[test]
fn links_dump_spanning_many_messages_returns_every_link() {
    in_netns(|| {
        // 120 veth pairs: far more than one 32 KiB dump datagram holds.
        let batch: String = (0..120)
            .map(|i| format!("link add a{i} type veth peer name b{i}\n"))
            .collect();
        let mut child = Command::new("ip")
            .args(["-batch", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("spawning ip -batch");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(batch.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "ip -batch failed");

        let links = Rtnl::new().unwrap().links().unwrap();
        assert_eq!(links.len(), 241, "lo + 240 veths");
        for i in 0..120 {
            for n in [format!("a{i}"), format!("b{i}")] {
                assert!(links.iter().any(|l| l.name == n), "{n} missing");
            }
        }
    });
}

#[test]
fn set_up_changes_admin_state_and_oper_state_follows_the_peer() {
    in_netns(|| {
        ip("link add v0 type veth peer name v1");
        let mut rt = Rtnl::new().unwrap();
        // Subscribe before the change, then check, then wait: the documented pattern.
        let mut w = LinkWatcher::new().unwrap();
        rt.set_up("v0", true).unwrap();
        let v0 = rt.link("v0").unwrap().unwrap();
        assert!(v0.up);
        assert!(!v0.oper_up, "peer v1 is down, so v0 has no carrier");

        rt.set_up("v1", true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if rt.link("v0").unwrap().unwrap().oper_up {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                w.wait(left).unwrap(),
                "v0 never became operationally up within 10 s"
            );
        }

        rt.set_up("v0", false).unwrap();
        let v0 = rt.link("v0").unwrap().unwrap();
        assert!(!v0.up && !v0.oper_up);
    });
}

#[test]
fn set_up_on_missing_interface_names_it() {
    in_netns(|| {
        let e = Rtnl::new().unwrap().set_up("nosuch0", true).unwrap_err();
        assert_mentions(&e, &["nosuch0", "RTM_SETLINK", "no such interface"]);
        assert_eq!(netlink::errno(&e), Some(Errno::ENODEV));
    });
}

// ---------------------------------------------------------------------------------------------
// rtnetlink: VFs (no SR-IOV here: only the "none" and "refused" paths)

#[test]
fn vfs_of_a_device_without_sriov_is_empty_and_of_a_missing_one_an_error() {
    in_netns(|| {
        ip("link add v0 type veth peer name v1");
        let mut rt = Rtnl::new().unwrap();
        assert!(rt.vfs("v0").unwrap().is_empty());
        assert!(rt.vfs("lo").unwrap().is_empty());
        let e = rt.vfs("nosuch0").unwrap_err();
        assert_mentions(&e, &["nosuch0", "IFLA_VFINFO_LIST", "no such interface"]);
    });
}

/// veth has no ndo_set_vf_*: the kernel parses our IFLA_VFINFO_LIST/IFLA_VF_INFO nesting and
/// only then answers EOPNOTSUPP (a malformed attribute would be EINVAL instead), so this checks
/// the encoding of every property as far as this kernel can.
#[test]
fn set_vf_on_device_without_sriov_is_refused_per_property_naming_vf_and_pf() {
    in_netns(|| {
        ip("link add v0 type veth peer name v1");
        let mut rt = Rtnl::new().unwrap();
        let cases: Vec<(&str, VfProps)> = vec![
            (
                "MAC",
                VfProps {
                    mac: Some([2, 0, 0, 0, 0, 3]),
                    ..Default::default()
                },
            ),
            (
                "VLAN/QoS",
                VfProps {
                    vlan: Some(100),
                    qos: Some(2),
                    ..Default::default()
                },
            ),
            (
                "spoofchk",
                VfProps {
                    spoofchk: Some(false),
                    ..Default::default()
                },
            ),
            (
                "trust",
                VfProps {
                    trust: Some(true),
                    ..Default::default()
                },
            ),
            (
                "link state",
                VfProps {
                    link_state: Some(LinkState::Enable),
                    ..Default::default()
                },
            ),
        ];
        for (what, props) in cases {
            let e = rt.set_vf("v0", 3, &props).unwrap_err();
            assert_mentions(&e, &[&format!("setting VF 3 {what} on v0 via RTM_SETLINK")]);
            assert_eq!(netlink::errno(&e), Some(Errno::EOPNOTSUPP), "{}", msg(&e));
        }
        let e = rt
            .set_vf_ib_guids("v0", 1, Some(0x1122_3344_5566_7788), None)
            .unwrap_err();
        assert_mentions(&e, &["setting VF 1 node GUID on v0"]);
        assert_eq!(netlink::errno(&e), Some(Errno::EOPNOTSUPP), "{}", msg(&e));

        // Nothing to set is not a request at all.
        rt.set_vf("v0", 3, &VfProps::default()).unwrap();

        let e = rt
            .set_vf(
                "nosuch0",
                0,
                &VfProps {
                    trust: Some(true),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert_mentions(&e, &["nosuch0", "no such interface"]);
    });
}

#[test]
fn vf_tx_rates_on_a_device_that_refuses_them_name_the_vf_pf_and_min_tx_rate() {
    in_netns(|| {
        ip("link add v0 type veth peer name v1");
        let mut rt = Rtnl::new().unwrap();
        let both = VfProps {
            min_tx_rate: Some(100),
            max_tx_rate: Some(1000),
            ..Default::default()
        };
        let e = rt.set_vf("v0", 3, &both).unwrap_err();
        assert_mentions(
            &e,
            &[
                "setting VF 3 tx rate (min_tx_rate 100, max_tx_rate 1000 Mbit/s) on v0 via RTM_SETLINK",
                "the driver of v0 refuses min_tx_rate 100",
            ],
        );
        assert_eq!(netlink::errno(&e), Some(Errno::EOPNOTSUPP), "{}", msg(&e));
        // only one of the two: the other is read back first, and a device with no VFs has none
        let e = rt
            .set_vf(
                "v0",
                0,
                &VfProps {
                    max_tx_rate: Some(500),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert_mentions(&e, &["v0 reports no VF 0", "tx rates of VF 0 on v0"]);
    });
}

#[test]
fn mtu_is_set_through_rtnetlink_and_a_refused_one_names_the_interface() {
    in_netns(|| {
        ip("link add v0 type veth peer name v1");
        let mut rt = Rtnl::new().unwrap();
        for (name, mtu) in [("v0", 9000), ("v1", 4000)] {
            rt.set_mtu(name, mtu).unwrap();
            let out = Command::new("ip")
                .args(["-o", "link", "show", name])
                .output()
                .unwrap();
            let line = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(line.contains(&format!(" mtu {mtu} ")), "{line}");
        }
        // setting the MTU it has is no error (the plan does not ask, but a re-run may)
        rt.set_mtu("v0", 9000).unwrap();
        let e = rt.set_mtu("v0", 67).unwrap_err();
        assert_mentions(
            &e,
            &[
                "setting the MTU of v0 to 67 via RTM_SETLINK",
                "does not allow this MTU",
            ],
        );
        assert_eq!(netlink::errno(&e), Some(Errno::EINVAL), "{}", msg(&e));
        let e = rt.set_mtu("nosuch0", 1500).unwrap_err();
        assert_mentions(&e, &["nosuch0", "no such interface"]);
    });
}

// ---------------------------------------------------------------------------------------------
// rtnetlink: link events

#[test]
fn link_watcher_wakes_on_a_link_created_after_it_subscribed() {
    in_netns(|| {
        let mut w = LinkWatcher::new().unwrap();
        ip("link add v0 type veth peer name v1");
        let t0 = Instant::now();
        assert!(w.wait(Duration::from_secs(5)).unwrap());
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "queued event is seen at once"
        );
    });
}

#[test]
fn link_watcher_wakes_as_soon_as_a_link_appears_while_waiting() {
    in_netns(|| {
        let mut w = LinkWatcher::new().unwrap();
        let (tx, rx) = mpsc::channel();
        // A thread spawned from this one shares its network namespace.
        let maker = thread::spawn(move || {
            thread::sleep(Duration::from_millis(300));
            ip("link add v0 type veth peer name v1");
            tx.send(Instant::now()).unwrap();
        });
        let t0 = Instant::now();
        assert!(w.wait(Duration::from_secs(10)).unwrap());
        let woke = Instant::now();
        maker.join().unwrap();
        let created = rx.recv().unwrap();
        assert!(woke.duration_since(t0) >= Duration::from_millis(250));
        assert!(
            woke.saturating_duration_since(created) < Duration::from_secs(2)
                && woke.duration_since(t0) < Duration::from_secs(5),
            "woke {:?} after start, link made at {:?}",
            woke - t0,
            created - t0
        );
    });
}

#[test]
fn link_watcher_times_out_with_false_when_nothing_changes() {
    in_netns(|| {
        let mut w = LinkWatcher::new().unwrap();
        let t0 = Instant::now();
        assert!(!w.wait(Duration::from_millis(300)).unwrap());
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(2),
            "{took:?}"
        );
    });
}

#[test]
fn link_watcher_coalesces_a_burst_into_one_wakeup() {
    in_netns(|| {
        let mut w = LinkWatcher::new().unwrap();
        for i in 0..10 {
            ip(&format!("link add a{i} type veth peer name b{i}"));
        }
        assert!(w.wait(Duration::from_secs(5)).unwrap());
        // Everything queued was drained by that one wake-up.
        assert!(!w.wait(Duration::from_millis(200)).unwrap());
    });
}

// ---------------------------------------------------------------------------------------------
// ethtool netlink

#[test]
fn ethtool_feature_toggles_on_veth_and_is_read_back() {
    in_netns(|| {
        ip("link add v0 type veth peer name v1");
        let mut et = Ethtool::new().unwrap();
        // GRO is a software feature every netdev may toggle.
        let before = et
            .feature("v0", "rx-gro")
            .unwrap()
            .expect("rx-gro is known");
        assert!(before.changeable, "{before:?}");
        for on in [!before.active, before.active] {
            et.set_feature("v0", "rx-gro", on).unwrap();
            assert_eq!(et.feature("v0", "rx-gro").unwrap().unwrap().active, on);
        }
        // Setting it to what it already is is a no-op, not an error.
        et.set_feature("v0", "rx-gro", before.active).unwrap();
    });
}

#[test]
fn ethtool_fixed_and_unknown_features_are_reported_by_name() {
    in_netns(|| {
        ip("link add v0 type veth peer name v1");
        let mut et = Ethtool::new().unwrap();
        // veth has no TC offload: known to the kernel, off and fixed.
        let tc = et.feature("v0", "hw-tc-offload").unwrap().unwrap();
        assert_eq!(
            (tc.active, tc.changeable, tc.supported()),
            (false, false, false)
        );
        let e = et.set_feature("v0", "hw-tc-offload", true).unwrap_err();
        assert_mentions(
            &e,
            &["hw-tc-offload", "v0", "fixed", "ETHTOOL_MSG_FEATURES_SET"],
        );

        assert_eq!(et.feature("v0", "no-such-feature").unwrap(), None);
        let e = et.set_feature("v0", "no-such-feature", true).unwrap_err();
        assert_mentions(&e, &["no-such-feature", "knows no feature"]);

        let e = et.feature("nosuch0", "rx-gro").unwrap_err();
        assert_mentions(&e, &["nosuch0", "no such interface"]);
    });
}

#[test]
fn ethtool_channels_of_veth_are_read_and_set() {
    in_netns(|| {
        ip("link add v0 numtxqueues 4 numrxqueues 4 type veth peer name v1 numtxqueues 4 numrxqueues 4");
        let mut et = Ethtool::new().unwrap();
        let c = et.channels("v0").unwrap();
        assert_eq!((c.rx_max, c.tx_max), (4, 4), "{c:?}");
        assert_eq!(c.combined_max, 0, "{c:?}");
        et.set_channels(
            "v0",
            &ChannelsSet {
                rx: Some(2),
                tx: Some(3),
                ..Default::default()
            },
        )
        .unwrap();
        let c = et.channels("v0").unwrap();
        assert_eq!((c.rx, c.tx), (2, 3), "{c:?}");

        // Above the maximum: the kernel refuses and the error says what was asked of whom.
        let e = et
            .set_channels(
                "v0",
                &ChannelsSet {
                    rx: Some(64),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert_mentions(
            &e,
            &["setting channels rx 64 on v0", "ETHTOOL_MSG_CHANNELS_SET"],
        );
        assert_eq!(netlink::errno(&e), Some(Errno::EINVAL), "{}", msg(&e));
        // Nothing to set: no request.
        et.set_channels("v0", &ChannelsSet::default()).unwrap();
    });
}

#[test]
fn ethtool_rings_are_read_and_set_or_refused_naming_the_interface() {
    in_netns(|| {
        ip("link add v0 type veth peer name v1");
        let mut et = Ethtool::new().unwrap();
        match et.rings("v0") {
            Ok(r) => {
                // A kernel whose veth has ring parameters: round-trip one.
                assert!(r.rx_max > 0, "{r:?}");
                et.set_rings("v0", Some(r.rx_max), None).unwrap();
                assert_eq!(et.rings("v0").unwrap().rx, r.rx_max);
            }
            Err(e) => {
                assert_mentions(&e, &["reading ring sizes of v0", "ETHTOOL_MSG_RINGS_GET"]);
                assert_eq!(netlink::errno(&e), Some(Errno::EOPNOTSUPP), "{}", msg(&e));
                let e = et.set_rings("v0", Some(512), Some(512)).unwrap_err();
                assert_mentions(&e, &["setting rings rx 512 tx 512 on v0"]);
            }
        }
        let e = et.rings("nosuch0").unwrap_err();
        assert_mentions(&e, &["nosuch0", "no such interface"]);
    });
}

#[test]
fn rss_hash_function_on_a_device_without_rss_is_a_clear_error() {
    in_netns(|| {
        ip("link add v0 type veth peer name v1");
        let e = rss_hfunc("v0").unwrap_err();
        assert_mentions(
            &e,
            &[
                "reading RSS hash function of v0",
                "ETHTOOL_GRSSH",
                "not supported",
            ],
        );
        assert_eq!(netlink::errno(&e), Some(Errno::EOPNOTSUPP));
        let e = set_rss_hfunc("v0", Hfunc::Toeplitz).unwrap_err();
        assert_mentions(
            &e,
            &[
                "setting RSS hash function of v0 to toeplitz",
                "ETHTOOL_SRSSH",
            ],
        );
        let e = rss_hfunc("nosuch0").unwrap_err();
        assert_mentions(&e, &["nosuch0"]);
        assert_eq!(netlink::errno(&e), Some(Errno::ENODEV));
    });
}

// ---------------------------------------------------------------------------------------------
// devlink

#[test]
fn devlink_is_either_absent_with_a_clear_error_or_refuses_unknown_handles_by_name() {
    in_netns(|| match Devlink::new() {
        Err(e) => {
            // This machine's kernel: no CONFIG_NET_DEVLINK.
            assert_mentions(&e, &["devlink", "CONFIG_NET_DEVLINK"]);
            assert_eq!(netlink::errno(&e), Some(Errno::ENOENT));
        }
        Ok(mut dl) => {
            let h = DevlinkHandle::new("netdevsim", "netdevsim999");
            assert!(!dl.devices().unwrap().contains(&h));
            let e = dl.eswitch_mode(&h).unwrap_err();
            assert_mentions(&e, &["netdevsim/netdevsim999", "DEVLINK_CMD_ESWITCH_GET"]);
            let e = dl.set_eswitch_mode(&h, EswitchMode::Switchdev).unwrap_err();
            assert_mentions(&e, &["netdevsim/netdevsim999", "switchdev"]);
            let e = dl.ports(&h).unwrap_err();
            assert_mentions(&e, &["netdevsim/netdevsim999", "DEVLINK_CMD_PORT_GET"]);
            // a dump for a device that does not exist: empty (kernels before 6.5 dump every
            // device's) or ENODEV naming it
            match dl.params(&h) {
                Ok(p) => assert!(p.is_empty(), "{p:?}"),
                Err(e) => assert_mentions(&e, &["netdevsim/netdevsim999", "DEVLINK_CMD_PARAM_GET"]),
            }
            let e = dl
                .set_param(&h, "max_macs", Cmode::Driverinit, &ParamValue::U32(16))
                .unwrap_err();
            assert_mentions(
                &e,
                &[
                    "netdevsim/netdevsim999",
                    "max_macs",
                    "DEVLINK_CMD_PARAM_SET",
                ],
            );
            let e = dl.reload(&h).unwrap_err();
            assert_mentions(&e, &["netdevsim/netdevsim999", "DEVLINK_CMD_RELOAD"]);
        }
    });
}
