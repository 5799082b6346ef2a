//! GET, LIST, WATCH and `pods/log`.
//!
//! Lists are served from the current state. `limit`/`continue` pages over it (a continued
//! page shows the state now, not the first page's snapshot); a continue token or a
//! `resourceVersionMatch=Exact` version older than the kept history is `410 Gone`, as for
//! an etcd compaction.

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use super::api::{Api, Ctx, Reply, WatchStart};
use super::podlog;
use super::selector::{FieldSelector, LabelSelector};
use super::status::{ApiError, ApiResult};
use super::table::table;
use super::watch::{WatchFilter, gone_line};

/// The annotation whose text `pods/log` returns.
pub const LOG_ANNOTATION: &str = "emulator.agentlens.dev/log";

/// Longest watch when the client sets no `timeoutSeconds` (the real server picks 30–60 min).
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

impl Api {
    /// The object as the client asked for it: in the request's version.
    pub(super) fn present(c: &Ctx<'_>, mut o: Value) -> Value {
        o["apiVersion"] = json!(c.api_version());
        o["kind"] = json!(c.t.kind);
        o
    }

    fn present_one(c: &Ctx<'_>, o: Value) -> Value {
        if wants_table(c.accept) {
            let include = c.q("includeObject").to_string();
            return table(&c.t, &[Self::present(c, o)], &include, json!({}));
        }
        Self::present(c, o)
    }

    pub(super) fn get(&self, c: &Ctx<'_>) -> ApiResult<Value> {
        let o = self
            .store
            .get(&c.t.group, &c.t.plural, &c.namespace, &c.name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&c.t.group, &c.t.plural, &c.name))?;
        Ok(Self::present_one(c, o))
    }

    pub(super) fn log(&self, c: &Ctx<'_>) -> ApiResult<Reply> {
        let o = self
            .store
            .get(&c.t.group, &c.t.plural, &c.namespace, &c.name)
            .ok_or_else(|| ApiError::not_found(&c.t.group, &c.t.plural, &c.name))?;
        let annotations = &o["metadata"]["annotations"];
        if let Some(files) = annotations[podlog::LOG_FILES_ANNOTATION].as_str() {
            return Self::runtime_log(c, files);
        }
        let text = annotations[LOG_ANNOTATION].as_str().unwrap_or_default();
        Ok(Reply::Text(200, text.to_string()))
    }

    /// `pods/log` from the container's CRI log file (see [`podlog`]).
    fn runtime_log(c: &Ctx<'_>, files: &str) -> ApiResult<Reply> {
        let files: std::collections::BTreeMap<String, String> = serde_json::from_str(files)
            .map_err(|e| ApiError::bad_request(format!("{}: {e}", podlog::LOG_FILES_ANNOTATION)))?;
        let container = match c.q("container") {
            "" if files.len() == 1 => files.keys().next().cloned().unwrap_or_default(),
            "" => {
                return Err(ApiError::bad_request(
                    "a container name must be specified".to_string(),
                ));
            }
            name => name.to_string(),
        };
        let path = files.get(&container).ok_or_else(|| {
            ApiError::bad_request(format!("container {container} is not valid for pod"))
        })?;
        let since = match c.q("sinceTime") {
            "" => None,
            t => Some(
                t.parse()
                    .map_err(|e| ApiError::bad_request(format!("sinceTime {t}: {e}")))?,
            ),
        };
        // A container that has not written yet has no file: an empty log, as the kubelet's.
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let body = podlog::render(&podlog::parse(&text), since, c.q("timestamps") == "true");
        Ok(Reply::Text(200, body))
    }

    fn selected<'a>(
        &'a self,
        c: &'a Ctx<'_>,
        fields: &'a FieldSelector,
    ) -> ApiResult<impl Iterator<Item = (&'a (String, String), &'a Value)> + 'a> {
        let labels = LabelSelector::parse(c.q("labelSelector")).map_err(ApiError::bad_request)?;
        let ns = (!c.namespace.is_empty()).then_some(c.namespace.as_str());
        Ok(self
            .store
            .list(&c.t.group, &c.t.plural, ns)
            .filter(move |(_, o)| labels.matches(&o["metadata"]["labels"]) && fields.matches(o)))
    }

    fn check_version(&self, c: &Ctx<'_>) -> ApiResult<()> {
        let compacted = self.store.history().compacted();
        if c.q("resourceVersionMatch") == "Exact"
            && let Ok(rv) = c.q("resourceVersion").parse::<u64>()
            && rv < compacted
        {
            return Err(ApiError::expired(format!(
                "too old resource version: {rv} ({compacted})"
            )));
        }
        Ok(())
    }

    pub(super) fn list(&self, c: &Ctx<'_>, fields: &FieldSelector) -> ApiResult<Value> {
        self.check_version(c)?;
        let mut list_rv = self.store.rv();
        let mut start = String::new();
        if !c.q("continue").is_empty() {
            let token = base64::engine::general_purpose::STANDARD
                .decode(c.q("continue"))
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .ok_or_else(|| ApiError::bad_request("continue key is not valid"))?;
            list_rv = token["rv"].as_u64().unwrap_or_default();
            start = token["start"].as_str().unwrap_or_default().to_string();
            if list_rv < self.store.history().compacted() {
                return Err(ApiError::expired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.".into()));
            }
        }
        // The token names the last (namespace, name) served; keys are in that order.
        let after = start.split_once('/');
        let rest: Vec<(&(String, String), &Value)> = self
            .selected(c, fields)?
            .filter(|((ns, n), _)| {
                after.is_none_or(|(sns, sn)| (ns.as_str(), n.as_str()) > (sns, sn))
            })
            .collect();
        let limit = c.q("limit").parse::<usize>().unwrap_or(0);
        // Only the page is copied.
        let page: Vec<Value> = rest
            .iter()
            .take(if limit == 0 { usize::MAX } else { limit })
            .map(|(_, o)| Self::present(c, (*o).clone()))
            .collect();
        let mut meta = json!({"resourceVersion": list_rv.to_string()});
        if limit > 0
            && rest.len() > limit
            && let Some(((ns, n), _)) = rest.get(limit - 1)
        {
            let token = json!({"rv": list_rv, "start": format!("{ns}/{n}")}).to_string();
            meta["continue"] = json!(base64::engine::general_purpose::STANDARD.encode(token));
            meta["remainingItemCount"] = json!(rest.len() - limit);
        }
        if wants_table(c.accept) {
            return Ok(table(&c.t, &page, c.q("includeObject"), meta));
        }
        Ok(
            json!({"kind": format!("{}List", c.t.kind), "apiVersion": c.api_version(), "metadata": meta, "items": page}),
        )
    }

    pub(super) fn watch(&self, c: &Ctx<'_>, fields: FieldSelector) -> ApiResult<WatchStart> {
        let filter = WatchFilter {
            group: c.t.group.clone(),
            plural: c.t.plural.clone(),
            namespace: (!c.namespace.is_empty()).then(|| c.namespace.clone()),
            labels: LabelSelector::parse(c.q("labelSelector")).map_err(ApiError::bad_request)?,
            fields: fields.clone(),
            api_version: c.api_version(),
            kind: c.t.kind.clone(),
        };
        let timeout = c
            .q("timeoutSeconds")
            .parse::<u64>()
            .ok()
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_WATCH_TIMEOUT);
        let bookmarks = matches!(c.q("allowWatchBookmarks"), "true" | "1");
        let rv_param = c.q("resourceVersion");
        let initial = c.q("sendInitialEvents") == "true" || rv_param.is_empty() || rv_param == "0";
        let mut lines = Vec::new();
        let now = self.store.rv();
        if initial {
            for (_, o) in self.selected(c, &fields)? {
                lines.push(filter.encode("ADDED", o));
            }
            if c.q("sendInitialEvents") == "true" && bookmarks {
                lines.push(filter.bookmark(now, true));
            }
        } else {
            let rv = rv_param.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("invalid resource version: {rv_param}"))
            })?;
            match self.store.history().since(rv) {
                None => {
                    lines.push(gone_line(rv, self.store.history().compacted()));
                    return Ok(WatchStart {
                        lines,
                        rx: None,
                        filter,
                        timeout,
                        bookmarks,
                        rv,
                    });
                }
                Some(events) => lines.extend(events.iter().filter_map(|e| filter.line(e))),
            }
        }
        Ok(WatchStart {
            lines,
            rx: Some(self.store.subscribe()),
            filter,
            timeout,
            bookmarks,
            rv: now,
        })
    }
}
