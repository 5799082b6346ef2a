//! Is this string a Kubernetes resource quantity? A malformed quantity in a per-pod
//! annotation must not make the API server reject the pod, so it is checked before use.

/// Whether `s` parses as a quantity (`100m`, `64Mi`, `1.5`, `2e3`, `1G`).
pub fn is_quantity(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let num_end = s
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
        .map_or(s.len(), |(i, _)| i);
    let (num, suffix) = s.split_at(num_end);
    let digits_ok = !num.is_empty() && num != "." && num.matches('.').count() <= 1;
    let suffix_ok = matches!(
        suffix,
        "" | "m"
            | "k"
            | "M"
            | "G"
            | "T"
            | "P"
            | "E"
            | "Ki"
            | "Mi"
            | "Gi"
            | "Ti"
            | "Pi"
            | "Ei"
            | "n"
            | "u"
    ) || suffix.strip_prefix(['e', 'E']).is_some_and(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    digits_ok && suffix_ok
}

#[cfg(test)]
mod tests {
    use super::is_quantity;

    #[test]
    fn quantities() {
        for ok in [
            "10m", "200m", "32Mi", "64Mi", "1", "1.5", "2e3", "1G", "0.5Gi", "+1",
        ] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["", "lots", "64MB", "1..5", "m", "10 m", "1e", "Mi"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }
}
