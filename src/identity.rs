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

impl Identity {
    /// The (user id, connector id) a `sub` from [`Identity::subject`] encodes; `None` for
    /// anything else.
    pub fn parse_subject(sub: &str) -> Option<(String, String)> {
        let buf =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sub).ok()?;
        let (mut user, mut conn) = (String::new(), String::new());
        let mut i = 0;
        while i < buf.len() {
            let tag = buf[i];
            i += 1;
            let (mut len, mut shift) = (0usize, 0u32);
            loop {
                let b = *buf.get(i)?;
                i += 1;
                len |= ((b & 0x7f) as usize).checked_shl(shift)?;
                if b & 0x80 == 0 {
                    break;
                }
                shift += 7;
                if shift > 28 {
                    return None;
                }
            }
            let field = std::str::from_utf8(buf.get(i..i.checked_add(len)?)?).ok()?;
            i += len;
            match tag {
                0x0a => user = field.to_string(),
                0x12 => conn = field.to_string(),
                _ => return None,
            }
        }
        Some((user, conn))
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
        assert_eq!(
            Identity::parse_subject(&id.subject()),
            Some((id.user_id.clone(), "local".to_string()))
        );
        let long = Identity {
            user_id: "u".repeat(300),
            connector_id: "upstream".into(),
            ..Default::default()
        };
        assert_eq!(
            Identity::parse_subject(&long.subject()),
            Some((long.user_id.clone(), "upstream".to_string()))
        );
        for bad in ["", "!!", "CiQw", "GgA", "Cv____8P"] {
            assert!(
                Identity::parse_subject(bad).is_none_or(|(u, c)| u.is_empty() && c.is_empty()),
                "{bad}"
            );
        }
    }
}
