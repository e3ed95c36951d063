//! The config builder on small documents.

use super::*;
use crate::config::GuidScheme;

fn parse(t: &str) -> Result<Config, ConfigError> {
    parse_str(Path::new("t.toml"), t)
}

#[test]
fn unmanage_vfs_defaults_to_on_and_takes_a_bool() {
    assert!(parse("").unwrap().boot.unmanage_vfs);
    assert!(
        !parse("[boot]\nunmanage_vfs = false\n")
            .unwrap()
            .boot
            .unmanage_vfs
    );
    let e = parse("[boot]\nunmanage_vfs = \"no\"\n").unwrap_err();
    assert!(e.to_string().contains("t.toml:2:"), "{e}");
}

#[test]
fn full_example_parses() {
    let c = parse(
        r#"
[defaults]
timeout = "90s"
[[pf]]
match = { name = "ens1f0" }
vfs = 32
eswitch = "switchdev"
bind = "mlx5_core"
reserved_vfs = [0]
vf = { 1 = { mac = "02:00:00:00:01:01", trust = true, spoofchk = false } }
[[bond]]
name = "bond0"
slaves = ["ens1f0", "ens1f1"]
vf_lag = true
ib = { device = "mlx5_bond_0", node_guids = "auto", port_guids = { 0 = "00:11:22:33:44:55:66:77" } }
"#,
    )
    .unwrap();
    assert_eq!(c.timeout, Duration::from_secs(90));
    let pf = &c.pfs[0];
    assert_eq!(pf.vfs, 32);
    assert!(pf.hw_tc_offload);
    assert_eq!(pf.bind, Some(Bind::Driver("mlx5_core".into())));
    assert_eq!(pf.vf[&1].trust, Some(true));
    let ib = c.bonds[0].ib.as_ref().unwrap();
    assert_eq!(ib.node_guids, Some(GuidScheme::Auto));
    assert!(matches!(ib.port_guids, Some(GuidScheme::Explicit(_))));
}

#[test]
fn errors_carry_line_and_column() {
    let e = parse("[[pf]]\nmatch = { name = \"ens1f0\" }\nvfs = 32\nbogus = 1\n").unwrap_err();
    assert_eq!((e.line, e.col), (4, 1), "{e}");
    assert!(
        e.to_string()
            .starts_with("t.toml:4:1: unknown field `bogus`"),
        "{e}"
    );
}

#[test]
fn a_control_character_in_a_comment_is_explained() {
    // found by fuzz/: toml reports it with an empty message
    let e = parse("[[pf]]\n# a\u{17}b\n").unwrap_err();
    assert_eq!((e.line, e.col), (2, 4), "{e}");
    assert_eq!(
        e.to_string(),
        "t.toml:2:4: character '\\u{17}' is not allowed here"
    );
}

#[test]
fn vf_index_keys_are_plain_numbers() {
    let base = "[[pf]]\nmatch = { name = \"p0\" }\nvfs = 4\n";
    let e = parse(&format!("{base}vf = {{ \"+1\" = {{ trust = true }} }}\n")).unwrap_err();
    assert!(e.message.contains("VF index \"+1\" is not a number"), "{e}");
    assert!(parse(&format!("{base}vf = {{ 1 = {{ trust = true }} }}\n")).is_ok());
}

#[test]
fn probe_jobs_is_auto_unless_set_and_a_later_file_wins() {
    assert_eq!(parse("").unwrap().probe_jobs, ProbeJobs::Auto);
    let c = parse("[defaults]\nprobe_jobs = \"auto\"\n").unwrap();
    assert_eq!(c.probe_jobs, ProbeJobs::Auto);
    let c = parse("[defaults]\nprobe_jobs = 1\n").unwrap();
    assert_eq!(c.probe_jobs, ProbeJobs::Fixed(1));
    let mut b = Builder::default();
    for (name, text) in [
        ("config.toml", "[defaults]\nprobe_jobs = 4\n"),
        ("conf.d/50.toml", "[defaults]\ntimeout = \"5s\"\n"),
        ("conf.d/60.toml", "[defaults]\nprobe_jobs = 16\n"),
    ] {
        b.add(&Source {
            path: Path::new(name),
            text,
        })
        .unwrap();
    }
    assert_eq!(b.finish(&[]).unwrap().probe_jobs, ProbeJobs::Fixed(16));
}

#[test]
fn probe_jobs_out_of_range_points_at_the_value() {
    for bad in ["0", "257", "-1", "\"all\"", "2.0", "true"] {
        let e = parse(&format!("[defaults]\nprobe_jobs = {bad}\n")).unwrap_err();
        assert_eq!((e.line, e.col), (2, 14), "{bad}: {e}");
        assert!(e.message.starts_with("probe_jobs must be"), "{bad}: {e}");
    }
    let c = parse("[defaults]\nprobe_jobs = 256\n").unwrap();
    assert_eq!(c.probe_jobs, ProbeJobs::Fixed(MAX_PROBE_JOBS));
}

#[test]
fn empty_config_is_valid_and_empty() {
    let c = parse("").unwrap();
    assert!(c.pfs.is_empty() && c.bonds.is_empty());
}

#[test]
fn pf_tune_overrides_global_tune_key_by_key() {
    let c = parse(
        r#"
[tune]
rss_hfunc = "toeplitz"
rings = "max"
channels = "numa-local"
[[pf]]
match = { name = "ens1f0" }
vfs = 4
tune = { rings = 4096, xps = false }
[[pf]]
match = { name = "ens1f1" }
vfs = 4
"#,
    )
    .unwrap();
    let t0 = c.tune_for(&c.pfs[0].matcher);
    assert_eq!(t0.rings, Some(RingsSetting::Count(4096)));
    assert_eq!(t0.xps, Some(false));
    assert_eq!(t0.rss_hfunc.as_deref(), Some("toeplitz"));
    assert_eq!(t0.channels, Some(ChannelsSetting::NumaLocal));
    assert_eq!(c.tune_for(&c.pfs[1].matcher), c.tune);
}

#[test]
fn pf_tune_errors_point_into_the_pf_table() {
    let e =
        parse("[[pf]]\nmatch = { name = \"p0\" }\nvfs = 4\ntune = { rings = 0 }\n").unwrap_err();
    assert_eq!(e.line, 4, "{e}");
    assert!(e.message.starts_with("rings must be"), "{e}");
}

#[test]
fn devlink_params_take_values_and_tables_with_a_cmode() {
    let c = parse(
        r#"
[[pf]]
match = { name = "p0" }
vfs = 2
eswitch = "switchdev"
eswitch_inline_mode = "transport"
eswitch_encap_mode = "basic"
devlink_params = { flow_steering_mode = "smfs", max_macs = 32, test1 = false, enable_roce = { value = true, cmode = "driverinit" } }
"#,
    )
    .unwrap();
    let d = &c.pfs[0].devlink;
    assert_eq!(d.inline_mode, Some(InlineMode::Transport));
    assert_eq!(d.encap_mode, Some(EncapMode::Basic));
    let p = |n: &str| d.params[n].clone();
    assert_eq!(
        p("flow_steering_mode"),
        DevlinkParam {
            value: ParamSetting::Str("smfs".into()),
            cmode: None
        }
    );
    assert_eq!(p("max_macs").value, ParamSetting::Int(32));
    assert_eq!(p("test1").value, ParamSetting::Bool(false));
    assert_eq!(
        p("enable_roce"),
        DevlinkParam {
            value: ParamSetting::Bool(true),
            cmode: Some(ParamCmode::Driverinit)
        }
    );
}

#[test]
fn a_later_file_overrides_one_devlink_param() {
    let mut b = Builder::default();
    for (name, text) in [
        (
            "config.toml",
            "[[pf]]\nmatch = { name = \"p0\" }\nvfs = 2\ndevlink_params = { max_macs = 32, test1 = true }\n",
        ),
        (
            "conf.d/50.toml",
            "[[pf]]\nmatch = { name = \"p0\" }\ndevlink_params = { test1 = false }\n",
        ),
    ] {
        b.add(&Source {
            path: Path::new(name),
            text,
        })
        .unwrap();
    }
    let c = b.finish(&[]).unwrap();
    let d = &c.pfs[0].devlink.params;
    assert_eq!(d["max_macs"].value, ParamSetting::Int(32));
    assert_eq!(d["test1"].value, ParamSetting::Bool(false));
}

#[test]
fn bad_devlink_settings_point_at_the_key() {
    let base = "[[pf]]\nmatch = { name = \"p0\" }\nvfs = 2\n";
    for (line, want) in [
        (
            "devlink_params = { Max-Macs = 1 }",
            "\"Max-Macs\" is not a devlink parameter name",
        ),
        ("devlink_params = { max_macs = -1 }", "-1 is negative"),
        ("devlink_params = { max_macs = 1.5 }", "the value must be"),
        ("devlink_params = { max_macs = [1] }", "the value must be"),
        (
            "devlink_params = { max_macs = { value = 1, cmode = \"boot\" } }",
            "cmode \"boot\" is not",
        ),
        (
            "devlink_params = { max_macs = { value = 1, cmode = 1 } }",
            "cmode must be",
        ),
        (
            "devlink_params = { max_macs = { cmode = \"runtime\" } }",
            "the table needs `value`",
        ),
        (
            "devlink_params = { max_macs = { value = 1, mode = \"runtime\" } }",
            "unknown key \"mode\"",
        ),
        (
            "devlink_params = { x = \"0123456789012345678901234567890123\" }",
            "is not a devlink string value",
        ),
        ("devlink_params = 5", "invalid type"),
        (
            "eswitch = \"switchdev\"\neswitch_inline_mode = \"tcp\"",
            "eswitch_inline_mode \"tcp\" is not",
        ),
        (
            "eswitch = \"switchdev\"\neswitch_encap_mode = \"vxlan\"",
            "eswitch_encap_mode \"vxlan\" is not",
        ),
        (
            "eswitch_inline_mode = \"transport\"",
            "eswitch_inline_mode is set but eswitch is not \"switchdev\"",
        ),
        (
            "eswitch = \"legacy\"\neswitch_encap_mode = \"basic\"",
            "eswitch_encap_mode is set but eswitch is not \"switchdev\"",
        ),
    ] {
        let e = parse(&format!("{base}{line}\n")).unwrap_err();
        assert!(e.line >= 4, "{line}: {e}");
        assert!(e.message.contains(want), "{line}: {e}");
    }
}
