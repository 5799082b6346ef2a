//! One API request, start to end, against the store: authentication by bearer token, routing,
//! RBAC, and the verb. Runs on the store's owner thread; returns what the HTTP layer writes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::broadcast;

use super::apply::Part;
use super::authz::{Attributes, Identity, forbidden_reason};
use super::kubeconfig::{ADMIN_FILE, Kubeconfigs, account_file};
use super::request::{ResourcePath, Route, route};
use super::resources::ResourceType;
use super::selector::FieldSelector;
use super::status::{ApiError, ApiResult};
use super::store::Store;
use super::watch::{Event, WatchFilter};
use super::{discovery, openapi, protobuf};

/// A request as the HTTP layer read it.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// HTTP method.
    pub method: String,
    /// Percent-decoded path.
    pub path: String,
    /// Query parameters.
    pub query: BTreeMap<String, String>,
    /// `Content-Type`.
    pub content_type: String,
    /// `Accept`.
    pub accept: String,
    /// Bearer token, if any.
    pub token: Option<String>,
    /// `User-Agent`.
    pub user_agent: String,
    /// The body (already bounded).
    pub body: Bytes,
}

/// An open watch, handed to the HTTP layer to stream.
#[derive(Debug)]
pub struct WatchStart {
    /// Lines to send first (initial events, or the 410 ERROR).
    pub lines: Vec<String>,
    /// Events committed after the watch started; None when it ends after `lines`.
    pub rx: Option<broadcast::Receiver<Arc<Event>>>,
    /// Which events this watch sees and how they are encoded.
    pub filter: WatchFilter,
    /// When the server ends the watch.
    pub timeout: Duration,
    /// Whether to send BOOKMARK events.
    pub bookmarks: bool,
    /// The resourceVersion the watch is at after `lines`.
    pub rv: u64,
}

/// What to answer.
#[derive(Debug)]
pub enum Reply {
    /// A JSON body.
    Json(u16, Value),
    /// A plain-text body.
    Text(u16, String),
    /// A body of another content type.
    Bytes(u16, &'static str, Vec<u8>),
    /// A watch stream.
    Watch(Box<WatchStart>),
}

impl From<ApiError> for Reply {
    fn from(e: ApiError) -> Self {
        Reply::Json(e.code, e.to_status())
    }
}

/// What a resource request resolved to.
#[derive(Clone)]
pub(super) struct Ctx<'a> {
    pub t: ResourceType,
    pub version: String,
    pub namespace: String,
    pub name: String,
    pub part: Part,
    pub query: &'a BTreeMap<String, String>,
    pub body: &'a [u8],
    pub content_type: &'a str,
    pub accept: &'a str,
    pub manager: String,
    pub dry_run: bool,
    pub strict: bool,
}

impl Ctx<'_> {
    pub fn api_version(&self) -> String {
        self.t.api_version(&self.version)
    }

    pub fn q(&self, key: &str) -> &str {
        self.query.get(key).map(String::as_str).unwrap_or_default()
    }
}

/// The API: the store plus who may use it.
pub struct Api {
    pub(super) store: Store,
    pub(super) tokens: BTreeMap<String, Identity>,
    /// Which ready pod of a webhook Service is called next.
    pub(super) round_robin: usize,
    accounts: BTreeMap<(String, String), String>,
    kubeconfigs: Kubeconfigs,
    server: String,
    /// Namespaces being deleted, and since when: their contents go after a grace period.
    pub(super) terminating: BTreeMap<String, Instant>,
}

/// A random bearer token.
fn token() -> String {
    let mut b = [0u8; 24];
    if getrandom::fill(&mut b).is_err() {
        return super::store::uid().replace('-', "");
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Api {
    /// An API over `store`, writing the admin kubeconfig now.
    pub fn new(store: Store, kubeconfigs: Kubeconfigs, server: String) -> std::io::Result<Self> {
        let admin = token();
        kubeconfigs.write(ADMIN_FILE, "admin", &admin, "default")?;
        let mut tokens = BTreeMap::new();
        tokens.insert(admin, Identity::Admin);
        Ok(Self {
            store,
            tokens,
            accounts: BTreeMap::new(),
            kubeconfigs,
            server,
            terminating: BTreeMap::new(),
            round_robin: 0,
        })
    }

    /// Issues tokens and writes kubeconfigs for every ServiceAccount that bindings name or
    /// that exists as an object and has none yet.
    pub(super) fn ensure_accounts(&mut self) {
        let mut wanted = self.store.rbac().service_accounts();
        wanted.extend(
            self.store
                .list("", "serviceaccounts", None)
                .map(|((ns, n), _)| (ns.clone(), n.clone())),
        );
        for (ns, name) in wanted {
            if self.accounts.contains_key(&(ns.clone(), name.clone())) {
                continue;
            }
            let t = token();
            let id = Identity::ServiceAccount(ns.clone(), name.clone());
            match self
                .kubeconfigs
                .write(&account_file(&ns, &name), &id.user(), &t, &ns)
            {
                Ok(_) => {
                    self.tokens.insert(t.clone(), id);
                    self.accounts.insert((ns, name), t);
                }
                Err(e) => tracing::error!("writing the kubeconfig of {ns}/{name}: {e}"),
            }
        }
    }

    /// Answers one request.
    pub fn handle(&mut self, inc: &Incoming) -> Reply {
        let Some(id) = inc
            .token
            .as_deref()
            .and_then(|t| self.tokens.get(t))
            .cloned()
        else {
            return ApiError::unauthorized().into();
        };
        let types = self.store.types();
        let found = |doc: Option<Value>| match doc {
            Some(d) => Reply::Json(200, d),
            None => ApiError::no_route().into(),
        };
        match route(&inc.path) {
            None => ApiError::no_route().into(),
            Some(Route::Version) => Reply::Json(200, discovery::version()),
            Some(Route::Health) => Reply::Text(200, "ok".into()),
            Some(Route::CoreVersions) => Reply::Json(200, discovery::core_versions(&self.server)),
            Some(Route::Groups) => Reply::Json(200, discovery::group_list(types)),
            Some(Route::Group(g)) => found(discovery::group(types, &g)),
            Some(Route::ResourceList(g, v)) => found(discovery::resource_list(types, &g, &v)),
            Some(Route::OpenApi(p)) if p == "/openapi/v3" => Reply::Json(200, openapi::root(types)),
            // An empty protobuf message is an empty OpenAPI v2 document: kubectl falls back to it
            // for kinds the v3 documents do not name, and then reports the missing mapping.
            Some(Route::OpenApi(p)) if p == "/openapi/v2" => {
                Reply::Bytes(200, openapi::V2_PROTOBUF, Vec::new())
            }
            Some(Route::OpenApi(p)) => found(openapi::group_version(types, &p)),
            Some(Route::Resource(rp)) => match self.resource(&id, &rp, inc) {
                Ok(reply) => reply,
                Err(e) => e.into(),
            },
        }
    }

    /// Whether `id` may create (or update) the object `rp` addresses.
    pub(super) fn may_write(
        &self,
        id: &Identity,
        t: &ResourceType,
        rp: &ResourcePath,
        op: &str,
    ) -> bool {
        let attrs = Attributes {
            verb: if op == "CREATE" { "create" } else { "update" }.into(),
            group: t.group.clone(),
            resource: t.plural.clone(),
            subresource: String::new(),
            namespace: rp.namespace.clone().unwrap_or_default(),
            name: rp.name.clone().unwrap_or_default(),
        };
        self.store.rbac().allows(id, &attrs)
    }

    /// A SelfSubjectAccessReview: the caller's own permission, answered from RBAC.
    fn review(&self, id: &Identity, c: &Ctx<'_>) -> ApiResult<Value> {
        let mut review: Value = serde_json::from_slice(c.body)
            .map_err(|e| ApiError::bad_request(format!("invalid review: {e}")))?;
        let ra = &review["spec"]["resourceAttributes"];
        let s = |k: &str| ra[k].as_str().unwrap_or_default().to_string();
        let allowed = if ra.is_object() {
            let attrs = Attributes {
                verb: s("verb"),
                group: s("group"),
                resource: s("resource"),
                subresource: s("subresource"),
                namespace: s("namespace"),
                name: s("name"),
            };
            self.store.rbac().allows(id, &attrs)
        } else {
            // Non-resource URLs: discovery and /version are open to everyone authenticated.
            *id == Identity::Admin
        };
        review["status"] = serde_json::json!({"allowed": allowed});
        Ok(review)
    }

    fn resource(&mut self, id: &Identity, rp: &ResourcePath, inc: &Incoming) -> ApiResult<Reply> {
        let t = self
            .store
            .types()
            .iter()
            .find(|t| {
                t.group == rp.group && t.plural == rp.plural && t.versions.contains(&rp.version)
            })
            .cloned()
            .ok_or_else(ApiError::no_route)?;
        let sub = rp.subresource.as_deref().unwrap_or_default();
        let sub_ok = match sub {
            "" => true,
            "status" => t.status,
            "log" => t.log,
            _ => false,
        };
        if !sub_ok
            || (rp.namespace.is_some() && !t.namespaced)
            || (!sub.is_empty() && rp.name.is_none())
        {
            return Err(ApiError::no_route());
        }
        let name = rp.name.clone().unwrap_or_default();
        let watch = matches!(
            inc.query.get("watch").map(String::as_str),
            Some("true" | "1")
        );
        let verb = match (inc.method.as_str(), name.is_empty()) {
            ("GET", false) => "get",
            ("GET", true) if watch => "watch",
            ("GET", true) => "list",
            ("POST", true) => "create",
            ("PUT", false) => "update",
            ("PATCH", false) => "patch",
            ("DELETE", false) => "delete",
            ("DELETE", true) => "deletecollection",
            _ => {
                return Err(ApiError::method_not_supported(
                    &t.group,
                    &t.plural,
                    &inc.method,
                ));
            }
        };
        let fields = FieldSelector::parse(
            inc.query
                .get("fieldSelector")
                .map(String::as_str)
                .unwrap_or_default(),
            &t.fields,
        )
        .map_err(ApiError::bad_request)?;
        let mut namespace = rp.namespace.clone().unwrap_or_default();
        if t.group.is_empty() && t.plural == "namespaces" {
            // The API server authorizes a namespace object as being in itself.
            namespace = name.clone();
        }
        let attrs = Attributes {
            verb: verb.into(),
            group: t.group.clone(),
            resource: t.plural.clone(),
            subresource: sub.into(),
            namespace,
            name: if name.is_empty() && matches!(verb, "list" | "watch") {
                fields.name().unwrap_or_default().to_string()
            } else {
                name.clone()
            },
        };
        // JSON and YAML (apply) bodies are read as they are; a protobuf body only for the kinds
        // client-go's typed clients write in the tests' flows (Helm's release Secrets).
        let decoded;
        let (body, content_type): (&[u8], &str) = if inc.content_type.contains("protobuf") {
            let json = protobuf::to_json(&inc.body).map_err(|why| {
                tracing::debug!(%why, "protobuf body refused");
                ApiError::unsupported_media_type(&inc.content_type)
            })?;
            decoded = json.to_string().into_bytes();
            (&decoded, "application/json")
        } else {
            (&inc.body, &inc.content_type)
        };
        // Everyone may ask about their own permissions (the `system:basic-user` role).
        let own_review = t.plural == "selfsubjectaccessreviews";
        if !own_review && !self.store.rbac().allows(id, &attrs) {
            return Err(ApiError::forbidden(
                &t.group,
                &t.plural,
                &name,
                forbidden_reason(id, &attrs),
            ));
        }
        let manager = inc.query.get("fieldManager").cloned().unwrap_or_else(|| {
            inc.user_agent
                .split('/')
                .next()
                .unwrap_or("unknown")
                .to_string()
        });
        let part = match (sub, t.status) {
            ("status", _) => Part::Status,
            (_, true) => Part::Main,
            _ => Part::Whole,
        };
        let c = Ctx {
            version: rp.version.clone(),
            namespace: rp.namespace.clone().unwrap_or_default(),
            name,
            part,
            query: &inc.query,
            body,
            content_type,
            accept: &inc.accept,
            manager,
            dry_run: inc.query.get("dryRun").is_some_and(|d| d == "All"),
            strict: inc
                .query
                .get("fieldValidation")
                .is_some_and(|v| v == "Strict"),
            t,
        };
        let result = match verb {
            "create" if c.t.group == "authorization.k8s.io" => {
                self.review(id, &c).map(|v| Reply::Json(201, v))
            }
            _ if c.t.group == "authorization.k8s.io" => Err(ApiError::method_not_supported(
                &c.t.group,
                &c.t.plural,
                verb,
            )),
            "get" if sub == "log" => self.log(&c),
            "get" => self.get(&c).map(|v| Reply::Json(200, v)),
            "list" => self.list(&c, &fields).map(|v| Reply::Json(200, v)),
            "watch" => self.watch(&c, fields).map(|w| Reply::Watch(Box::new(w))),
            "create" => self.create(&c).map(|v| Reply::Json(201, v)),
            "update" => self.update(&c).map(|v| Reply::Json(200, v)),
            "patch" => self.patch(&c).map(|(code, v)| Reply::Json(code, v)),
            "delete" => self.delete(&c).map(|v| Reply::Json(200, v)),
            _ => self
                .delete_collection(&c, &fields)
                .map(|v| Reply::Json(200, v)),
        };
        if matches!(
            c.t.plural.as_str(),
            "rolebindings" | "clusterrolebindings" | "serviceaccounts"
        ) && !c.dry_run
        {
            self.ensure_accounts();
        }
        result
    }
}

#[cfg(test)]
#[path = "api_tests.rs"]
mod tests;
