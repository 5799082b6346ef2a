//! Redaction of every text the sidecar keeps and serves (error lines, traceback lines and
//! messages, GPU OOM messages, OTLP exception text, captured prompts): private keys, API keys
//! and tokens, credentials in URLs (`scheme://user:pass@`), `password=` style secrets, e-mail
//! addresses and payment card numbers (13-19 digits passing the Luhn check) are replaced by
//! `[REDACTED:<what>]` before any text is kept.

use std::sync::LazyLock;

use regex::{Captures, Regex};

struct Rules {
    private_key: Regex,
    url_credentials: Regex,
    tokens: Regex,
    assignment: Regex,
    email: Regex,
    card: Regex,
}

#[allow(clippy::expect_used)] // constant patterns, covered by the tests below
static RULES: LazyLock<Rules> = LazyLock::new(|| {
    Rules {
    private_key: Regex::new(
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|\z)",
    )
    .expect("pattern"),
    // `scheme://user:password@host`: the password goes, the user and host stay (they help
    // debugging and are not secret). The password runs to the last `@` of the URL, since a
    // password may itself hold `/` or `@` (a path with an `@` after a port is cut too: safer).
    url_credentials: Regex::new(r"\b([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*):\S*@")
        .expect("pattern"),
    tokens: Regex::new(concat!(
        r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}",
        r"|\bAKIA[0-9A-Z]{16}\b",
        r"|\bgh[pousr]_[A-Za-z0-9]{30,}",
        r"|\bgithub_pat_[A-Za-z0-9_]{20,}",
        r"|\bxox[abprs]-[A-Za-z0-9-]{10,}",
        r"|\bAIza[0-9A-Za-z_-]{35}",
        r"|\bhf_[A-Za-z0-9]{30,}",
        r"|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+",
        r"|(?i:\bbearer)\s+[A-Za-z0-9._~+/-]{16,}=*",
    ))
    .expect("pattern"),
    assignment: Regex::new(
        r#"(?i)\b(password|passwd|pwd|secret|client[_-]?secret|token|api[_-]?key|access[_-]?key|private[_-]?key)("?\s*[:=]\s*"?)([^\s"',;]+)"#,
    )
    .expect("pattern"),
    email: Regex::new(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
        .expect("pattern"),
    card: Regex::new(r"\b\d(?:[ -]?\d){12,18}\b").expect("pattern"),
}
});

fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(*d);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// `text` with every secret, key, e-mail address and card number replaced.
pub fn redact(text: &str) -> String {
    let r = &*RULES;
    let t = r.private_key.replace_all(text, "[REDACTED:private-key]");
    let t = r.url_credentials.replace_all(&t, "$1:[REDACTED:password]@");
    let t = r.tokens.replace_all(&t, "[REDACTED:token]");
    let t = r.assignment.replace_all(&t, |c: &Captures<'_>| {
        format!("{}{}[REDACTED:secret]", &c[1], &c[2])
    });
    let t = r.email.replace_all(&t, "[REDACTED:email]");
    let t = r.card.replace_all(&t, |c: &Captures<'_>| {
        let digits: Vec<u8> = c[0]
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect();
        if (13..=19).contains(&digits.len()) && luhn(&digits) {
            "[REDACTED:card]".to_string()
        } else {
            c[0].to_string()
        }
    });
    t.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_replaced_and_the_rest_kept() {
        let cases = [
            (
                "Use key sk-proj-abcdefghijklmnopqrstuvwx123 to call",
                "Use key [REDACTED:token] to call",
            ),
            ("aws AKIAIOSFODNN7EXAMPLE here", "aws [REDACTED:token] here"),
            (
                "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc",
                "Authorization: [REDACTED:token]",
            ),
            ("password=hunter2; next", "password=[REDACTED:secret]; next"),
            (
                "connect postgresql://app:s3cr3t-Pa55@db.internal:5432/invoices failed",
                "connect postgresql://app:[REDACTED:password]@db.internal:5432/invoices failed",
            ),
            (
                "redis://:hunter2@cache:6379/0",
                "redis://:[REDACTED:password]@cache:6379/0",
            ),
            // Passwords holding `/` or `@` go whole.
            (
                "dsn postgresql://app:pa/ss@db:5432/x",
                "dsn postgresql://app:[REDACTED:password]@db:5432/x",
            ),
            (
                "amqp://user:p@ss@rabbit:5672 down",
                "amqp://user:[REDACTED:password]@rabbit:5672 down",
            ),
            // A URL without credentials and a time with colons stay.
            (
                "GET https://example.com:8443/v1 at 12:30:01",
                "GET https://example.com:8443/v1 at 12:30:01",
            ),
            (
                "{\"api_key\": \"abc123\"}",
                "{\"api_key\": \"[REDACTED:secret]\"}",
            ),
            (
                "mail jane.doe+rag@example.co.uk now",
                "mail [REDACTED:email] now",
            ),
            ("card 4111 1111 1111 1111 exp", "card [REDACTED:card] exp"),
            ("card 4111-1111-1111-1111", "card [REDACTED:card]"),
            // Not a card (Luhn fails), an order number stays.
            ("order 4111 1111 1111 1112", "order 4111 1111 1111 1112"),
            (
                "invoice 2026-11-27 total 1234",
                "invoice 2026-11-27 total 1234",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- ok",
                "[REDACTED:private-key] ok",
            ),
            (
                "You are a helpful invoice assistant.",
                "You are a helpful invoice assistant.",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "{input}");
        }
    }
}
