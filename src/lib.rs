//! Gantry: an OpenID Connect identity and access gateway for container platforms.
//!
//! Layers, top to bottom: `http` (axum, thin) over `oauth` (protocol core) and `connector`
//! (identity sources), over `keys` and `storage`. Lower layers never see HTTP.

pub mod admin;
pub mod app;
pub mod build_info;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connector;
pub mod example_app;
pub mod files;
pub mod http;
pub mod identity;
pub mod keys;
pub mod metrics;
pub mod mfa;
pub mod oauth;
pub mod password;
pub mod policy;
pub mod printable;
pub mod ratelimit;
pub mod registry;
pub mod request_scope;
pub mod seal;
pub mod secret;
pub mod storage;
pub mod throttle;
