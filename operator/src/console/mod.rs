//! `kubectl agentlens console`: a read-only web console over the same facts as `inspect`
//! (AgentDeployment status, Models, Evaluations), read from the cluster with the user's own
//! kubeconfig or from a dump, served on loopback or exported as static pages.
//!
//! Flow: [`source`] reads → [`facts::Snapshot`] (one immutable value, replaced by the poller in
//! [`server`]) → [`overview`] / [`view`] (pure view models, [`layout`] for the call graph) →
//! [`pages`] (askama templates) → HTTP ([`server`]) or files ([`export`]).

pub mod export;
pub mod facts;
pub mod layout;
pub mod overview;
pub mod pages;
pub mod server;
pub mod source;
pub mod view;
