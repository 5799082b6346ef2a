//! The response body through the proxy, and the recording of each request's metrics when
//! that body ends, fails or is dropped.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::Proxy;

/// Records one request's metrics exactly once: when its response body ends, fails, or is
/// dropped unfinished (the client went away: code 499, as nginx reports it).
pub(super) struct Recorder {
    pub(super) proxy: Arc<Proxy>,
    pub(super) route: Arc<str>,
    pub(super) method: &'static str,
    pub(super) code: Option<StatusCode>,
    /// `"true"` when the response is a stream of events (SSE): the label that lets the
    /// latency alert read time to first byte for those and whole-body time for the rest.
    pub(super) streamed: &'static str,
    pub(super) start: Instant,
    pub(super) first_byte: bool,
    pub(super) done: bool,
}

impl Recorder {
    fn first_byte(&mut self) {
        if !self.first_byte {
            self.first_byte = true;
            self.proxy
                .shared
                .metrics
                .request_first_byte
                .with_label_values(&[&*self.route, self.method, self.streamed])
                .observe(self.start.elapsed().as_secs_f64());
        }
    }

    pub(super) fn finish(&mut self, aborted: bool) {
        if self.done {
            return;
        }
        self.done = true;
        if !aborted {
            self.first_byte();
        }
        let secs = self.start.elapsed().as_secs_f64();
        let code = match (aborted, &self.code) {
            (true, _) | (false, None) => "499",
            (false, Some(c)) => c.as_str(),
        };
        let m = &self.proxy.shared.metrics;
        m.request_duration
            .with_label_values(&[&*self.route, self.method, code])
            .observe(secs);
        let error = self.code.is_some_and(|c| c.is_server_error());
        self.proxy.shared.latency.observe(secs, error);
    }

    /// An error answer of the proxy itself.
    pub(super) fn fail(
        mut self,
        status: StatusCode,
        kind: &str,
        text: &str,
    ) -> Response<ProxyBody> {
        self.proxy
            .shared
            .metrics
            .proxy_upstream_errors
            .with_label_values(&[kind])
            .inc();
        self.code = Some(status);
        let body = Bytes::from(format!("agentlens proxy: {text}\n"));
        let mut resp = Response::new(ProxyBody::full(body, Some(self)));
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        resp
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Dropped before the handler answered or before the body ended: the client left.
        self.finish(true);
    }
}

pub(super) enum Inner {
    Upstream(Incoming),
    Full(Option<Bytes>),
}

/// The response body the proxy sends: the upstream's, streamed, or its own error text.
pub struct ProxyBody {
    pub(super) inner: Inner,
    pub(super) rec: Option<Recorder>,
}

impl ProxyBody {
    pub(super) fn full(b: Bytes, rec: Option<Recorder>) -> Self {
        Self {
            inner: Inner::Full(Some(b)),
            rec,
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = match &mut this.inner {
            Inner::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Inner::Upstream(body) => Pin::new(body).poll_frame(cx),
        };
        match &polled {
            Poll::Ready(Some(Ok(f))) => {
                if let (Some(r), Some(d)) = (this.rec.as_mut(), f.data_ref())
                    && !d.is_empty()
                {
                    r.first_byte();
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(r) = this.rec.as_mut() {
                    r.proxy
                        .shared
                        .metrics
                        .proxy_upstream_errors
                        .with_label_values(&["body"])
                        .inc();
                    r.finish(false);
                }
            }
            Poll::Ready(None) => {
                if let Some(r) = this.rec.as_mut() {
                    r.finish(false);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Upstream(b) => b.is_end_stream(),
            Inner::Full(b) => b.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Upstream(b) => b.size_hint(),
            Inner::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Inner::Full(None) => SizeHint::with_exact(0),
        }
    }
}

impl Drop for ProxyBody {
    fn drop(&mut self) {
        // hyper does not poll a body that says it has ended (an empty one): that is complete.
        if self.is_end_stream()
            && let Some(r) = self.rec.as_mut()
        {
            r.finish(false);
        }
    }
}
