//! Sets of CPUs and the kernel's two text forms of them: cpulists (`0-3,8,10-11`, as in
//! `local_cpulist` and `smp_affinity_list`) and hex cpumasks (as in `xps_cpus`). Pure.

use std::collections::BTreeSet;

pub type CpuSet = BTreeSet<u32>;

/// Parses the kernel's cpulist format (`0-3,8,10-11`); empty means no CPU.
pub fn parse_cpulist(s: &str) -> Result<CpuSet, String> {
    let mut out = CpuSet::new();
    let s = s.trim();
    if s.is_empty() {
        return Ok(out);
    }
    for part in s.split(',') {
        let part = part.trim();
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let num = |x: &str| {
            x.parse::<u32>()
                .map_err(|_| format!("cpulist {s:?}: {part:?} is not a CPU or a range"))
        };
        let (a, b) = (num(a)?, num(b)?);
        if a > b || b - a > 65_536 {
            return Err(format!("cpulist {s:?}: bad range {part:?}"));
        }
        out.extend(a..=b);
    }
    Ok(out)
}

/// The kernel's cpulist format: `16-31,48-62`; empty for no CPU.
pub fn format_cpulist(set: &CpuSet) -> String {
    let mut parts: Vec<String> = vec![];
    let mut it = set.iter().copied().peekable();
    while let Some(start) = it.next() {
        let mut end = start;
        while it.peek() == Some(&(end + 1)) {
            end += 1;
            it.next();
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(",")
}

/// A cpulist for messages: `none` instead of an empty string.
pub fn show(set: &CpuSet) -> String {
    if set.is_empty() {
        "none".into()
    } else {
        format_cpulist(set)
    }
}

/// Parses a hex CPU mask as sysfs prints it (`xps_cpus`, `smp_affinity`): comma-separated
/// 32-bit groups, most significant first (`00000000,00010000` is CPU 16).
pub fn parse_cpumask(s: &str) -> Result<CpuSet, String> {
    let s = s.trim();
    let groups: Vec<&str> = s.split(',').collect();
    let n = groups.len();
    let mut out = CpuSet::new();
    for (i, g) in groups.iter().enumerate() {
        if g.is_empty() || g.len() > 8 {
            return Err(format!("cpu mask {s:?}: bad group {g:?}"));
        }
        let v =
            u32::from_str_radix(g, 16).map_err(|_| format!("cpu mask {s:?}: {g:?} is not hex"))?;
        let base = ((n - 1 - i) * 32) as u32;
        out.extend((0..32).filter(|b| v >> b & 1 == 1).map(|b| base + b));
    }
    Ok(out)
}

/// Formats a CPU mask the way the kernel prints an `nbits`-wide one (`%*pb`): 32-bit groups
/// of 8 hex digits, the first group only as wide as the remaining bits need.
pub fn format_cpumask(set: &CpuSet, nbits: u32) -> String {
    let need = set.iter().next_back().map_or(1, |m| m + 1);
    let nbits = nbits.max(need).max(1);
    let ngroups = nbits.div_ceil(32);
    let mut parts = vec![];
    for g in (0..ngroups).rev() {
        let v = (0..32u32)
            .filter(|b| set.contains(&(g * 32 + b)))
            .fold(0u32, |acc, b| acc | 1 << b);
        if g == ngroups - 1 {
            let width = (((nbits - 1) % 32 + 1) as usize).div_ceil(4);
            parts.push(format!("{v:0width$x}"));
        } else {
            parts.push(format!("{v:08x}"));
        }
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(l: &str) -> CpuSet {
        parse_cpulist(l).unwrap()
    }

    #[test]
    fn cpulists_parse_and_format_round_trip() {
        assert_eq!(set("0-3,8,10-11"), CpuSet::from([0, 1, 2, 3, 8, 10, 11]));
        assert_eq!(format_cpulist(&set("16-31,48-63")), "16-31,48-63");
        assert_eq!(format_cpulist(&set("5")), "5");
        assert_eq!(format_cpulist(&set("1,3,4,5,7")), "1,3-5,7");
        assert_eq!(set(""), CpuSet::new());
        assert_eq!(set("0-63\n").len(), 64);
        assert!(parse_cpulist("3-1").is_err());
        assert!(parse_cpulist("a-b").is_err());
        assert!(parse_cpulist("0-1:2/4").is_err());
    }

    #[test]
    fn masks_above_32_cpus_use_comma_separated_groups() {
        let s = CpuSet::from([0, 33, 63]);
        assert_eq!(format_cpumask(&s, 64), "80000002,00000001");
        assert_eq!(parse_cpumask("80000002,00000001").unwrap(), s);
        assert_eq!(format_cpumask(&CpuSet::from([32]), 64), "00000001,00000000");
        // the first group is only as wide as nr_cpu_ids needs, as the kernel prints it
        assert_eq!(format_cpumask(&CpuSet::from([2, 3]), 4), "c");
        assert_eq!(
            format_cpumask(&CpuSet::from([70]), 72),
            "40,00000000,00000000"
        );
        assert_eq!(format_cpumask(&CpuSet::new(), 64), "00000000,00000000");
        assert_eq!(parse_cpumask("0").unwrap(), CpuSet::new());
        assert_eq!(
            parse_cpumask("00,00000000,00010000").unwrap(),
            CpuSet::from([16])
        );
        assert!(parse_cpumask("1,,2").is_err());
        assert!(parse_cpumask("xyz").is_err());
    }
}
