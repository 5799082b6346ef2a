//! The controllers (`agentlens-operator run`): reflectors on the objects the status depends on,
//! an AgentDeployment controller triggered by its pods, configs, models and evaluations, a Model
//! controller, leader election.

pub mod actions;
pub mod leader;
pub mod metrics;
pub mod podindex;
pub mod reconcile;
pub mod run;
pub mod snapshots;
pub mod trim;
