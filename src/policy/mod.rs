//! The policy: groups (and users) decide what may be done on registries and clusters.
//!
//! Default deny. Allowed actions are the union over matching allow rules; a matching deny rule
//! removes actions and wins. Never grants anything a rule did not name.

pub mod eval;
pub mod kubernetes;
pub mod live;
pub mod model;
pub mod pattern;

pub use eval::{Asked, Decision, KubeBinding, LoginTarget, Subject};
pub use model::{Policy, PolicyConfig, PolicyError};
