//! Gantry's one integration test binary. Peers (PostgreSQL, node for openid-client) are started
//! once by scripts/test.sh and found through environment variables.

// Test code may stop at the first surprise: that is what a failed assertion is.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin;
mod admin_look;
mod admin_sessions;
mod admin_versions;
mod allowed_connectors;
mod api_descriptions;
mod attacks;
mod audit;
mod backchannel;
mod binary;
mod chaos;
mod claim_modifications;
mod cli;
mod cli_trust;
mod config;
mod connector_probe;
mod connector_secrets;
mod connector_templates;
mod device;
mod dex_corpus;
mod errors;
mod floods;
mod flow;
mod forge;
mod frontend;
mod fuzz_replay;
mod github;
mod gitlab;
mod google;
mod hostile;
mod image;
mod keys;
mod kubectl;
mod layers;
mod ldap;
mod limits;
mod metrics;
mod mfa;
mod microsoft;
mod openapi;
mod outage;
mod policy;
mod refresh;
mod registry;
mod rp;
mod saml;
mod sessions;
mod storage;
mod support;
mod upstream;
mod webauthn;
