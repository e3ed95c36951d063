//! Plain value rules shared by the config's builders (no config types: everything may use them).

/// A VF index key: decimal digits only (`str::parse` would also take "+1").
pub(super) fn parse_index(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

pub(super) fn is_driver_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
