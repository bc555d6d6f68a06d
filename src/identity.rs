//! The one shape every connector's answer takes.

use serde::{Deserialize, Serialize};

/// Who logged in, as a connector reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Identity {
    /// Stable id within the connector.
    pub user_id: String,
    pub username: String,
    #[serde(default)]
    pub preferred_username: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default)]
    pub groups: Vec<String>,
    pub connector_id: String,
    /// Opaque connector state kept for refresh (for example an upstream refresh token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_data: Option<String>,
}

impl Identity {
    /// The `sub` claim, encoded exactly as Dex does (base64url of a protobuf message with the
    /// user id and connector id), so RBAC bindings written for Dex keep matching after a move.
    pub fn subject(&self) -> String {
        let mut buf = Vec::with_capacity(self.user_id.len() + self.connector_id.len() + 8);
        proto_string(&mut buf, 1, &self.user_id);
        proto_string(&mut buf, 2, &self.connector_id);
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, buf)
    }
}

fn proto_string(buf: &mut Vec<u8>, field: u8, s: &str) {
    if s.is_empty() {
        return;
    }
    buf.push((field << 3) | 2);
    let mut n = s.len();
    while n >= 0x80 {
        buf.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
    buf.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_matches_dex_encoding() {
        // Dex's documented subject for user id "08a8684b-db88-4b73-90a9-3cd1661f5466" on "local".
        let id = Identity {
            user_id: "08a8684b-db88-4b73-90a9-3cd1661f5466".into(),
            connector_id: "local".into(),
            ..Default::default()
        };
        assert_eq!(
            id.subject(),
            "CiQwOGE4Njg0Yi1kYjg4LTRiNzMtOTBhOS0zY2QxNjYxZjU0NjYSBWxvY2Fs"
        );
    }
}
