//! The controllers (`agentlens-operator run`): a cache on every replica (reflectors and fact
//! indexes), the webhook fed from it, and, while this replica leads, an AgentDeployment
//! controller triggered by its pods, configs, models and evaluations, and a Model controller.

pub mod actions;
pub mod cache;
pub mod controllers;
pub mod health;
pub mod index;
pub mod keys;
pub mod leader;
pub mod live;
pub mod metrics;
pub mod reconcile;
pub mod run;
pub mod sidecar_access;
pub mod snapshots;
pub mod triggers;
pub mod webhook_cert;
