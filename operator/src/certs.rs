//! The webhook's serving certificate when the operator manages it (the chart's
//! `webhook.certificate.mode: operator`, as Kyverno and Gatekeeper do): a CA and a serving
//! certificate for the webhook Service's DNS names, generated with rcgen, kept in one Secret,
//! renewed when a third of their validity is left. Pure: the clock and the stored Secret come
//! in as plain data; `controller::webhook_cert` does the API calls.
//!
//! Each renewal makes a new CA too, and the CA bundle keeps the previous CA beside the new one
//! while it is valid: a replica still serving the previous certificate (it has not re-read the
//! Secret yet) stays trusted by the API server after the `caBundle` moved on.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::error::{Error, Result};

/// The Secret the chart names for the release `agentlens` (`<fullname>-webhook-tls`).
pub const DEFAULT_SECRET: &str = "agentlens-webhook-tls";
/// The MutatingWebhookConfiguration the chart names for the release `agentlens`.
pub const DEFAULT_WEBHOOK_CONFIGURATION: &str = "agentlens";
/// The webhook Service the chart names for the release `agentlens`.
pub const DEFAULT_SERVICE: &str = "agentlens-webhook";
/// Secret data key: the serving certificate (PEM).
pub const CERT_KEY: &str = "tls.crt";
/// Secret data key: its private key (PEM).
pub const KEY_KEY: &str = "tls.key";
/// Secret data key: the CA bundle the webhook configuration carries (PEM, newest CA first).
pub const CA_KEY: &str = "ca.crt";
/// Secret annotation: when the serving certificate expires (RFC 3339), read back to decide
/// on renewal without parsing X.509.
pub const NOT_AFTER_ANNOTATION: &str = "agentlens.dev/not-after";
/// How far certificates are backdated, at most, for clocks a little behind the operator's.
const BACKDATE: Duration = Duration::from_secs(300);

/// A freshly issued pair and its bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The serving certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PEM (PKCS#8).
    pub key_pem: String,
    /// The CA bundle for `caBundle`: the new CA, then the previous one while it is valid.
    pub ca_bundle_pem: String,
    /// Expiry of the serving certificate and of its CA.
    pub not_after: Timestamp,
}

/// What the Secret holds now, as far as renewal is concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    /// `tls.crt`, `tls.key` and `ca.crt` are all present.
    pub complete: bool,
    /// The not-after annotation, when present and readable.
    pub not_after: Option<Timestamp>,
    /// `ca.crt`.
    pub ca_bundle_pem: String,
}

/// The names a client may call the Service by: `svc`, `svc.ns`, `svc.ns.svc`,
/// `svc.ns.svc.cluster.local` (the API server uses `svc.ns.svc`).
pub fn dns_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_string(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

/// When a certificate of this validity expiring at `not_after` is renewed: a third before.
pub fn renew_at(not_after: Timestamp, validity: Duration) -> Timestamp {
    let third = i64::try_from(validity.as_secs() / 3).unwrap_or(i64::MAX);
    Timestamp::from_second(not_after.as_second().saturating_sub(third)).unwrap_or(Timestamp::MIN)
}

/// Whether the leader must issue a new pair now: none stored, incomplete, unreadable expiry,
/// or a third of the validity left.
pub fn needs_issue(stored: Option<&Stored>, now: Timestamp, validity: Duration) -> bool {
    match stored {
        Some(Stored {
            complete: true,
            not_after: Some(t),
            ..
        }) => now >= renew_at(*t, validity),
        _ => true,
    }
}

fn rcgen_err(what: &'static str) -> impl FnOnce(rcgen::Error) -> Error {
    move |e| Error::Tls(format!("{what}: {e}"))
}

fn offset(t: Timestamp) -> Result<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp(t.as_second())
        .map_err(|e| Error::Tls(format!("time out of range: {e}")))
}

/// The first certificate of a PEM bundle (the newest CA of a bundle this module wrote).
fn first_pem(bundle: &str) -> Option<&str> {
    const END: &str = "-----END CERTIFICATE-----";
    let start = bundle.find("-----BEGIN CERTIFICATE-----")?;
    let end = bundle[start..].find(END)? + start + END.len();
    Some(&bundle[start..end])
}

/// Issues a CA and a serving certificate for `service` in `namespace`, valid from shortly
/// before `now` for `validity`. `previous` is what the Secret held: its newest CA stays in the
/// bundle while it has not expired.
pub fn issue(
    service: &str,
    namespace: &str,
    now: Timestamp,
    validity: Duration,
    previous: Option<&Stored>,
) -> Result<Issued> {
    let backdate = BACKDATE.min(validity / 10);
    let not_before = Timestamp::from_second(
        now.as_second()
            .saturating_sub(i64::try_from(backdate.as_secs()).unwrap_or(0)),
    )
    .unwrap_or(now);
    let not_after = Timestamp::from_second(
        now.as_second()
            .saturating_add(i64::try_from(validity.as_secs()).unwrap_or(i64::MAX)),
    )
    .map_err(|e| Error::Tls(format!("validity out of range: {e}")))?;

    let ca_key = KeyPair::generate().map_err(rcgen_err("generating the CA key"))?;
    let mut ca = CertificateParams::default();
    // A name of its own per issuance: while two CAs share the bundle, verifiers pick the
    // issuer by name (OpenSSL tried the newer CA for the older certificate and failed).
    ca.distinguished_name.push(
        DnType::CommonName,
        format!("{service}.{namespace}.svc CA {}", now.as_second()),
    );
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = offset(not_before)?;
    ca.not_after = offset(not_after)?;
    let ca_cert = ca
        .self_signed(&ca_key)
        .map_err(rcgen_err("signing the CA"))?;

    let key = KeyPair::generate().map_err(rcgen_err("generating the serving key"))?;
    let mut leaf = CertificateParams::new(dns_names(service, namespace))
        .map_err(rcgen_err("the Service's DNS names"))?;
    leaf.distinguished_name
        .push(DnType::CommonName, format!("{service}.{namespace}.svc"));
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = offset(not_before)?;
    leaf.not_after = offset(not_after)?;
    let issuer = Issuer::from_params(&ca, &ca_key);
    let cert = leaf
        .signed_by(&key, &issuer)
        .map_err(rcgen_err("signing the serving certificate"))?;

    let mut bundle = ca_cert.pem();
    if let Some(prev) = previous
        && prev.not_after.is_some_and(|t| t > now)
        && let Some(pem) = first_pem(&prev.ca_bundle_pem)
    {
        if !bundle.ends_with('\n') {
            bundle.push('\n');
        }
        bundle.push_str(pem);
        bundle.push('\n');
    }
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        ca_bundle_pem: bundle,
        not_after,
    })
}

/// Parses a Go-style duration of hours, minutes and seconds (`8760h`, `90m`, `1h30m`, `20s`),
/// the form the chart's values use.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let bad = || format!("{text:?}: expected a duration like 8760h, 90m or 1h30m");
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn durations_in_the_charts_form() {
        for (text, secs) in [
            ("8760h", 8760 * 3600),
            ("90m", 5400),
            ("1h30m", 5400),
            ("20s", 20),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
        for bad in ["", "10", "1d", "h", "0s", "-5m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn renewal_when_a_third_is_left() {
        let year = Duration::from_secs(365 * 86400);
        let expiry = at("2027-12-01T00:00:00Z");
        let stored = Stored {
            complete: true,
            not_after: Some(expiry),
            ca_bundle_pem: String::new(),
        };
        let cases = [
            ("fresh", Some(&stored), "2027-01-01T00:00:00Z", false),
            (
                "two thirds used",
                Some(&stored),
                "2027-08-02T00:00:00Z",
                true,
            ),
            ("expired", Some(&stored), "2028-01-01T00:00:00Z", true),
            ("none stored", None, "2027-01-01T00:00:00Z", true),
        ];
        for (name, s, now, want) in cases {
            assert_eq!(needs_issue(s, at(now), year), want, "{name}");
        }
        let partial = Stored {
            complete: false,
            ..stored.clone()
        };
        assert!(needs_issue(
            Some(&partial),
            at("2027-01-01T00:00:00Z"),
            year
        ));
        let unreadable = Stored {
            not_after: None,
            ..stored
        };
        assert!(needs_issue(
            Some(&unreadable),
            at("2027-01-01T00:00:00Z"),
            year
        ));
    }

    #[test]
    fn the_bundle_keeps_the_previous_ca_while_it_is_valid() {
        let now = at("2026-12-05T20:00:00Z");
        let day = Duration::from_secs(86400);
        let first = issue("agentlens-webhook", "agentlens-system", now, day, None).unwrap();
        assert_eq!(first.ca_bundle_pem.matches("BEGIN CERTIFICATE").count(), 1);
        let stored = Stored {
            complete: true,
            not_after: Some(first.not_after),
            ca_bundle_pem: first.ca_bundle_pem.clone(),
        };
        let later = at("2026-12-06T12:00:00Z");
        let second = issue(
            "agentlens-webhook",
            "agentlens-system",
            later,
            day,
            Some(&stored),
        )
        .unwrap();
        assert_eq!(second.ca_bundle_pem.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(
            second
                .ca_bundle_pem
                .starts_with(first_pem(&second.ca_bundle_pem).unwrap())
        );
        assert!(
            second
                .ca_bundle_pem
                .contains(first_pem(&first.ca_bundle_pem).unwrap())
        );
        let much_later = at("2026-12-08T00:00:00Z");
        let third = issue(
            "agentlens-webhook",
            "agentlens-system",
            much_later,
            day,
            Some(&stored),
        )
        .unwrap();
        assert_eq!(
            third.ca_bundle_pem.matches("BEGIN CERTIFICATE").count(),
            1,
            "the expired CA is dropped"
        );
        assert_eq!(second.not_after, at("2026-12-07T12:00:00Z"));
    }
}
