//! The operator's error type.

use std::path::PathBuf;

/// Errors of the operator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The CRD manifests could not be rendered.
    #[error("rendering the CRD manifests")]
    Manifests(#[from] agentlens_crds::manifests::ManifestError),
    /// A file could not be read.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file's content is not what it should be.
    #[error("parsing {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// TLS material is unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// A call to the Kubernetes API failed.
    #[error("{what}")]
    Kube {
        /// What was being done.
        what: String,
        /// The API's answer or the transport's failure (boxed: it is large).
        #[source]
        source: Box<kube::Error>,
    },
    /// The operator's metrics could not be registered.
    #[error("registering the operator's metrics")]
    Metrics(#[source] prometheus::Error),
    /// A Secret the operator keeps in its namespace lacks its key.
    #[error("Secret {namespace}/{name} has no data.{key}")]
    SecretKey {
        /// Namespace.
        namespace: String,
        /// Secret.
        name: String,
        /// The missing data key.
        key: String,
    },
    /// This replica lost the leader lease it held.
    #[error("lost the leader lease")]
    LostLease,
    /// The system has no secure random source.
    #[error("no secure random source for a new key")]
    Random,
    /// A console page could not be rendered.
    #[error("rendering the console page {page}")]
    Render {
        /// The page.
        page: String,
        /// Why.
        #[source]
        source: askama::Error,
    },
    /// Network I/O failed.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// A fixed, bounded name for metric labels and events.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Manifests(_) => "manifests",
            Error::Read { .. } => "read",
            Error::Parse { .. } => "parse",
            Error::Tls(_) => "tls",
            Error::Io { .. } => "io",
            Error::Render { .. } => "render",
            Error::Kube { source, .. } => kube_category(source),
            Error::Metrics(_) => "metrics",
            Error::SecretKey { .. } => "secret_key",
            Error::Random => "random",
            Error::LostLease => "lost_lease",
        }
    }
}

/// A fixed, bounded name for a Kubernetes client error (metric labels): the HTTP status class
/// that matters to an operator, or the transport.
pub fn kube_category(e: &kube::Error) -> &'static str {
    match e {
        kube::Error::Api(s) => match s.code {
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not_found",
            409 => "conflict",
            410 => "gone",
            422 => "invalid",
            429 => "throttled",
            500..=599 => "server",
            _ => "api",
        },
        kube::Error::SerdeError(_) => "decode",
        _ => "transport",
    }
}

/// Every value [`kube_category`] returns, so counters can start at zero.
pub const KUBE_CATEGORIES: [&str; 11] = [
    "unauthorized",
    "forbidden",
    "not_found",
    "conflict",
    "gone",
    "invalid",
    "throttled",
    "server",
    "api",
    "decode",
    "transport",
];

/// An error and its causes on one line (`what: why: root cause`), for the one log line that
/// reports it.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        // Some errors repeat their source's text in their own; say it once.
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}

/// Result with the operator's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden() -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure(
                "models.agentlens.dev is forbidden: User \"system:serviceaccount:agentlens-system:agentlens\" cannot list resource \"models\"",
                "Forbidden",
            )
            .with_code(403)
            .boxed(),
        )
    }

    #[test]
    fn a_kube_error_keeps_its_cause_and_a_fixed_category() {
        let e = Error::Kube {
            what: "reading the HMAC key".into(),
            source: Box::new(forbidden()),
        };
        assert_eq!(e.category(), "forbidden");
        let line = chain(&e);
        assert!(line.starts_with("reading the HMAC key: "), "{line}");
        assert!(line.contains("cannot list resource"), "{line}");
    }
}
