//! Fitting free text into the bounded string fields of the status and the snapshot.

/// At most `max` bytes of `s`, cut at a character boundary.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn cuts_at_a_character_boundary() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("abcdef", 3), "abc");
        // "é" is two bytes: a cut in its middle backs off to before it.
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("…", 2), "");
    }
}
