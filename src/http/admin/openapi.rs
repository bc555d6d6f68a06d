//! `/api/v1/openapi.json`: the admin API's OpenAPI 3 document, which schemathesis checks the
//! API against.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::api::{MAX_ID, MAX_OFFSET, MAX_TIME};
use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/openapi.json", get(openapi))
}

/// What `check_email` accepts, for the document (JSON Schema regexes are ECMA 262).
const EMAIL_PATTERN: &str = "^[^\\s<>@\\u0000-\\u001f\\u007f-\\u009f]+@[^\\s<>.\\u0000-\\u001f\\u007f-\\u009f][^\\s<>\\u0000-\\u001f\\u007f-\\u009f]*\\.[^\\s<>\\u0000-\\u001f\\u007f-\\u009f]*[^\\s<>.\\u0000-\\u001f\\u007f-\\u009f]$";
const GROUP_PATTERN: &str = "^[^,\\u0000-\\u001f\\u007f-\\u009f]+$";
/// A registry scope: type, name, actions (the name may hold a host:port).
const SCOPE_PATTERN: &str =
    "^[a-z0-9]+(\\([a-z0-9]+\\))?:[a-z0-9._:-]+(/[a-z0-9._:-]+)*:(\\*|[a-z]+)(,(\\*|[a-z]+))*$";

/// A client id as `check_id` accepts it.
const CLIENT_ID_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";
/// What `redirect_uri_ok` accepts (keep the two in step).
const URI_PATTERN: &str = "^https?://(([a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?\\.)*[a-z]([a-z0-9-]{0,30}[a-z0-9])?|((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]))(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~/-]*)?(\\?[A-Za-z0-9._~=&-]*)?$";

/// The OpenAPI 3 description of what this module serves.
async fn openapi(State(s): State<AppState>) -> Response {
    let problem_ref = serde_json::json!({"$ref": "#/components/responses/Problem"});
    let if_match = serde_json::json!({"$ref": "#/components/parameters/IfMatch"});
    let etag = serde_json::json!({"ETag": {"$ref": "#/components/headers/ETag"}});
    let uri = serde_json::json!({"type": "string", "maxLength": 2000, "pattern": URI_PATTERN});
    let client_props = serde_json::json!({
        "name": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "\\S"},
        "redirect_uris": {"type": "array", "items": uri.clone()},
        "post_logout_redirect_uris": {"type": "array", "items": uri},
        "trusted_peers": {"type": "array", "items": {"type": "string", "pattern": CLIENT_ID_PATTERN}},
        "grant_types": {"type": "array", "items": {"type": "string", "enum": crate::config::GrantType::names()}},
        "public": {"type": "boolean"},
        "require_pkce": {"type": "boolean"}
    });
    let connector_props = serde_json::json!({
        "type": {"type": "string", "enum": crate::admin::connectors::KINDS},
        "name": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "\\S"},
        "config": {"type": "object", "description": "The keys of Dex's connector config for the type; bindPW and clientSecret are write-only"}
    });
    let mut new_connector_props = connector_props.clone();
    if let Some(o) = new_connector_props.as_object_mut() {
        o.insert(
            "id".into(),
            serde_json::json!({"type": "string", "pattern": CLIENT_ID_PATTERN}),
        );
    }
    let mut new_client_props = client_props.clone();
    if let Some(o) = new_client_props.as_object_mut() {
        o.insert(
            "id".into(),
            serde_json::json!({"type": "string", "pattern": CLIENT_ID_PATTERN}),
        );
    }
    // The clusters of this config are the only ones an explanation can name.
    let cluster_schema = if s.provider.clusters.is_empty() {
        serde_json::json!({"type": "string", "maxLength": 0, "nullable": true})
    } else {
        let mut names: Vec<serde_json::Value> = s
            .provider
            .clusters
            .iter()
            .map(|c| c.clone().into())
            .collect();
        names.push("".into());
        names.push(serde_json::Value::Null);
        serde_json::json!({"type": "string", "enum": names, "nullable": true})
    };
    axum::Json(serde_json::json!({
        "openapi": "3.0.3",
        "info": {"title": "Gantry admin API", "version": "1",
            "description": "Users, clients, connectors and the policy carry a version: the ETag of a GET (and of the answer to a change), and `version` in list items. A PUT, PATCH, DELETE or secret rotation with If-Match is made only on that version (412 otherwise, and nothing changes), so two admins working from the same read cannot overwrite each other unseen; one without If-Match is unconditional."},
        "servers": [{"url": s.web.url("/api/v1")}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": {
            "/sessions": {
                "get": {
                    "summary": "Live logins (refresh-token families), newest use first",
                    "parameters": [
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
                        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}}
                    ],
                    "responses": {
                        "200": {"description": "A page of sessions", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SessionPage"}}}},
                        "400": problem_ref, "401": problem_ref, "403": problem_ref
                    }
                }
            },
            "/sessions/revoke-user": {
                "post": {
                    "summary": "Revoke every session of one user (all clients): none of their refresh tokens works, and their admin sessions end",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "required": ["subject"], "properties": {"subject": {"type": "string", "description": "The subject of a session, as listed"}}}}}},
                    "responses": {"200": {"description": "Revoked", "content": {"application/json": {"schema": {"type": "object", "required": ["revoked", "admin_sessions"], "properties": {"revoked": {"type": "integer", "description": "Refresh tokens ended"}, "admin_sessions": {"type": "integer", "description": "Admin sessions ended"}}}}}}, "400": problem_ref, "401": problem_ref, "403": problem_ref, "404": problem_ref, "413": problem_ref, "415": problem_ref}
                }
            },
            "/keys": {
                "get": {
                    "summary": "Published signing keys, newest first",
                    "responses": {"200": {"description": "Keys", "content": {"application/json": {"schema": {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Key"}}}}}}}, "401": problem_ref, "403": problem_ref}
                }
            },
            "/keys/rotate": {
                "post": {
                    "summary": "Rotate the signing key now; the new key signs at once",
                    "responses": {"204": {"description": "Rotated"}, "401": problem_ref, "403": problem_ref}
                }
            },
            "/audit": {
                "get": {
                    "summary": "Audit events, newest first",
                    "parameters": [
                        {"name": "actor", "in": "query", "schema": {"type": "string"}},
                        {"name": "action", "in": "query", "schema": {"type": "string"}},
                        {"name": "since", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": MAX_TIME, "description": "Unix seconds"}},
                        {"name": "before", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID, "description": "next_before of the previous page"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}}
                    ],
                    "responses": {"200": {"description": "A page of events", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AuditPage"}}}}, "400": problem_ref, "401": problem_ref, "403": problem_ref}
                }
            },
            "/audit/tokens": {
                "get": {
                    "summary": "Tokens issued and refused, by client and grant type, summed over replicas by the hour",
                    "parameters": [
                        {"name": "since", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": MAX_TIME, "description": "Unix seconds; default the last 24 hours"}}
                    ],
                    "responses": {"200": {"description": "Counts", "content": {"application/json": {"schema": {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/TokenCount"}}}}}}}, "400": problem_ref, "401": problem_ref, "403": problem_ref}
                }
            },
            "/users": {
                "get": {
                    "summary": "Users: the config file's (read-only) and the password database's",
                    "parameters": [
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}},
                        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}}
                    ],
                    "responses": {"200": {"description": "Users", "content": {"application/json": {"schema": {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/User"}}}}}}}, "400": problem_ref, "401": problem_ref, "403": problem_ref}
                },
                "post": {
                    "summary": "Create a user in the password database",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewUser"}}}},
                    "responses": {"201": {"description": "Created", "headers": etag}, "400": problem_ref, "409": problem_ref, "401": problem_ref, "403": problem_ref, "413": problem_ref, "415": problem_ref}
                }
            },
            "/users/{email}": {
                "get": {
                    "summary": "One user; a database user's ETag is their version",
                    "parameters": [{"name": "email", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "The user", "headers": etag, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/User"}}}}, "401": problem_ref, "403": problem_ref, "404": problem_ref}
                },
                "patch": {
                    "summary": "Reset the password, set the groups, disable or enable",
                    "parameters": [{"name": "email", "in": "path", "required": true, "schema": {"type": "string"}}, if_match],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/UserChange"}}}},
                    "responses": {"204": {"description": "Changed", "headers": etag}, "400": problem_ref, "409": problem_ref, "401": problem_ref, "403": problem_ref, "404": problem_ref, "412": problem_ref, "413": problem_ref, "415": problem_ref}
                },
                "delete": {
                    "summary": "Delete a user of the password database",
                    "parameters": [{"name": "email", "in": "path", "required": true, "schema": {"type": "string"}}, if_match],
                    "responses": {"204": {"description": "Deleted"}, "401": problem_ref, "403": problem_ref, "404": problem_ref, "412": problem_ref}
                }
            },
            "/connectors": {
                "get": {
                    "summary": "Connectors: the config file's (read-only), the built-in password database, and those created here",
                    "responses": {"200": {"description": "Connectors", "content": {"application/json": {"schema": {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Connector"}}}}}}}, "401": problem_ref, "403": problem_ref}
                },
                "post": {
                    "summary": "Create a connector; it serves logins on every replica within a second",
                    "description": "`config` takes the keys of Dex's connector config for the type. A 400 names the key that does not build a connector.",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewConnector"}}}},
                    "responses": {"201": {"description": "Created", "headers": etag, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Connector"}}}}, "400": problem_ref, "401": problem_ref, "403": problem_ref, "409": problem_ref, "413": problem_ref, "415": problem_ref}
                }
            },
            "/connectors/{id}": {
                "get": {
                    "summary": "One connector; secrets only as set or not",
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "The connector; a database connector's ETag is its version", "headers": etag, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Connector"}}}}, "401": problem_ref, "403": problem_ref, "404": problem_ref}
                },
                "put": {
                    "summary": "Change a connector created here; a secret key left out of config keeps its value unless the change moves it (another host, issuer, endpoint, CA, TLS setting or type: 400, send it again), null clears it",
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}, if_match],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ConnectorSpec"}}}},
                    "responses": {"200": {"description": "Changed", "headers": etag, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Connector"}}}}, "400": problem_ref, "401": problem_ref, "403": problem_ref, "404": problem_ref, "409": problem_ref, "412": problem_ref, "413": problem_ref, "415": problem_ref}
                },
                "delete": {
                    "summary": "Delete a connector created here; its logins end at their next refresh",
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}, if_match],
                    "responses": {"204": {"description": "Deleted"}, "401": problem_ref, "403": problem_ref, "404": problem_ref, "409": problem_ref, "412": problem_ref}
                }
            },
            "/connectors/{id}/test": {
                "post": {
                    "summary": "Reach the connector's identity source now (LDAP bind and group search, OIDC discovery and JWKS, OAuth2 token endpoint, SAML metadata and certificate expiry); the answer is one of a fixed set of outcomes",
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "What the test found", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ProbeResult"}}}}, "401": problem_ref, "403": problem_ref, "404": problem_ref}
                }
            },
            "/policy": {
                "get": {
                    "summary": "The policy in force: the config file's, or the one saved here",
                    "responses": {"200": {"description": "The policy; the ETag is the version of what is saved (or of the config file's, when nothing is)", "headers": etag, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PolicyDocument"}}}}, "401": problem_ref, "403": problem_ref}
                },
                "put": {
                    "summary": "Replace the policy (kept in the database, in force on every replica); refused if it does not compile or would take the caller's own admin rights",
                    "parameters": [if_match],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PolicyDocument"}}}},
                    "responses": {"200": {"description": "Saved", "headers": etag, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PolicyDocument"}}}}, "400": problem_ref, "401": problem_ref, "403": problem_ref, "409": problem_ref, "412": problem_ref, "413": problem_ref, "415": problem_ref}
                },
                "delete": {
                    "summary": "Go back to the config file's policy",
                    "parameters": [if_match],
                    "responses": {"200": {"description": "The config file's policy, now in force", "headers": etag, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PolicyDocument"}}}}, "401": problem_ref, "403": problem_ref, "409": problem_ref, "412": problem_ref}
                }
            },
            "/policy/explain": {
                "post": {
                    "summary": "What the policy grants a subject, and the rules behind it",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ExplainRequest"}}}},
                    "responses": {"200": {"description": "Decisions", "content": {"application/json": {"schema": {"type": "object"}}}}, "400": problem_ref, "401": problem_ref, "403": problem_ref, "413": problem_ref, "415": problem_ref}
                }
            },
            "/clients": {
                "get": {
                    "summary": "Clients: the config file's (read-only) and those created here",
                    "responses": {"200": {"description": "Clients", "content": {"application/json": {"schema": {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Client"}}}}}}}, "401": problem_ref, "403": problem_ref}
                },
                "post": {
                    "summary": "Create a client; a confidential one's secret is in the answer, once",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewClient"}}}},
                    "responses": {"201": {"description": "Created", "headers": etag, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ClientSecret"}}}}, "400": problem_ref, "401": problem_ref, "403": problem_ref, "409": problem_ref, "413": problem_ref, "415": problem_ref}
                }
            },
            "/clients/{id}": {
                "get": {
                    "summary": "One client; a database client's ETag is its version",
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "The client", "headers": etag, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Client"}}}}, "401": problem_ref, "403": problem_ref, "404": problem_ref}
                },
                "put": {
                    "summary": "Change a client's settings (its secret stays)",
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}, if_match],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ClientSpec"}}}},
                    "responses": {"204": {"description": "Changed", "headers": etag}, "400": problem_ref, "401": problem_ref, "403": problem_ref, "404": problem_ref, "409": problem_ref, "412": problem_ref, "413": problem_ref, "415": problem_ref}
                },
                "delete": {
                    "summary": "Delete a client created here",
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}, if_match],
                    "responses": {"204": {"description": "Deleted"}, "401": problem_ref, "403": problem_ref, "404": problem_ref, "409": problem_ref, "412": problem_ref}
                }
            },
            "/clients/{id}/secret": {
                "post": {
                    "summary": "Replace a client's secret; the new one is in the answer, once",
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}, if_match],
                    "responses": {"200": {"description": "The new secret", "headers": etag, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ClientSecret"}}}}, "401": problem_ref, "403": problem_ref, "404": problem_ref, "409": problem_ref, "412": problem_ref}
                }
            },
            "/sessions/{id}": {
                "delete": {
                    "summary": "Revoke a session: its refresh token stops working",
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "responses": {"204": {"description": "Revoked"}, "401": problem_ref, "403": problem_ref, "404": problem_ref}
                }
            }
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "client_credentials access token of a client in policy.admins.clients"},
                "session": {"type": "apiKey", "in": "cookie", "name": "gantry_admin", "description": "the admin pages' session; a change made with it needs Origin of this Gantry, Sec-Fetch-Site: same-origin, or the page's form token in X-CSRF-Token (else 403)"}
            },
            "responses": {
                "Problem": {"description": "RFC 9457 problem", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            },
            "parameters": {
                "IfMatch": {"name": "If-Match", "in": "header", "required": false, "schema": {"type": "string"},
                    "description": "The ETag of the version this change was decided on (from a GET, a list item's version in double quotes, or the answer to the last change). The change is made only while that is still the current version; otherwise 412 and nothing changes. Without If-Match the change is unconditional: the last write wins."}
            },
            "headers": {
                "ETag": {"description": "The current version, to send in If-Match", "schema": {"type": "string"}}
            },
            "schemas": {
                "Problem": {"type": "object", "required": ["type", "title", "status", "detail"], "properties": {
                    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"}}},
                "Session": {"type": "object", "required": ["id", "subject", "client_id", "user", "email", "connector", "groups", "created_at", "last_used_at"], "properties": {
                    "id": {"type": "string"}, "subject": {"type": "string"}, "client_id": {"type": "string"}, "user": {"type": "string"}, "email": {"type": "string"},
                    "connector": {"type": "string"}, "groups": {"type": "array", "items": {"type": "string"}},
                    "created_at": {"type": "integer", "description": "Unix seconds"}, "last_used_at": {"type": "integer", "description": "Unix seconds"}}},
                "Key": {"type": "object", "required": ["kid", "alg", "active_from", "signing"], "properties": {
                    "kid": {"type": "string"}, "alg": {"type": "string"}, "active_from": {"type": "integer"},
                    "retired_at": {"type": "integer", "nullable": true}, "signing": {"type": "boolean"}}},
                "AuditEvent": {"type": "object", "required": ["id", "at", "actor", "action", "target", "outcome", "detail", "request_id"], "properties": {
                    "id": {"type": "integer"}, "at": {"type": "integer"}, "actor": {"type": "string"}, "action": {"type": "string"},
                    "target": {"type": "string"}, "outcome": {"type": "string"}, "detail": {"type": "string", "description": "JSON, never secrets"},
                    "request_id": {"type": "string", "description": "the X-Request-Id of the request that caused it; empty for background tasks"}}},
                "AuditPage": {"type": "object", "required": ["items"], "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEvent"}},
                    "next_before": {"type": "integer", "nullable": true}}},
                "User": {"type": "object", "required": ["email", "username", "groups", "source", "disabled"], "properties": {
                    "email": {"type": "string"}, "username": {"type": "string"}, "groups": {"type": "array", "items": {"type": "string"}},
                    "source": {"type": "string", "enum": ["config", "database"]}, "disabled": {"type": "boolean"},
                    "version": {"type": "string", "description": "Database users: the current version (the ETag without its quotes)"}}},
                "NewUser": {"type": "object", "additionalProperties": false, "required": ["email", "username", "password"], "properties": {
                    "email": {"type": "string", "maxLength": 254, "pattern": EMAIL_PATTERN},
                    "username": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "\\S"},
                    "password": {"type": "string", "minLength": 10, "maxLength": 1024, "writeOnly": true},
                    "groups": {"type": "array", "items": {"$ref": "#/components/schemas/Group"}}}},
                "UserChange": {"type": "object", "additionalProperties": false, "properties": {
                    "password": {"type": "string", "minLength": 10, "maxLength": 1024, "writeOnly": true, "nullable": true},
                    "groups": {"type": "array", "items": {"$ref": "#/components/schemas/Group"}, "nullable": true},
                    "disabled": {"type": "boolean", "nullable": true}}},
                "Group": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": GROUP_PATTERN},
                "ExplainRequest": {"type": "object", "additionalProperties": false, "properties": {
                    "connector": {"type": "string"}, "user": {"type": "string"}, "email": {"type": "string"},
                    "groups": {"type": "array", "items": {"type": "string"}},
                    "scopes": {"type": "array", "items": {"type": "string", "maxLength": 200, "pattern": SCOPE_PATTERN}},
                    "cluster": cluster_schema}},
                "Client": {"type": "object", "required": ["id", "name", "redirect_uris", "post_logout_redirect_uris", "trusted_peers", "grant_types", "public", "require_pkce", "source"], "properties": {
                    "id": {"type": "string"}, "name": {"type": "string"},
                    "redirect_uris": {"type": "array", "items": {"type": "string"}},
                    "post_logout_redirect_uris": {"type": "array", "items": {"type": "string"}},
                    "trusted_peers": {"type": "array", "items": {"type": "string"}},
                    "grant_types": {"type": "array", "items": {"type": "string"}},
                    "public": {"type": "boolean"}, "require_pkce": {"type": "boolean"},
                    "source": {"type": "string", "enum": ["config", "database"]},
                    "version": {"type": "string", "description": "Database clients: the current version (the ETag without its quotes)"}}},
                "ClientSpec": {"type": "object", "additionalProperties": false, "required": ["name"], "properties": client_props.clone()},
                "NewClient": {"type": "object", "additionalProperties": false, "required": ["id", "name"], "properties": new_client_props},
                "ClientSecret": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}, "secret": {"type": "string", "nullable": true}}},
                "Connector": {"type": "object", "required": ["id", "name", "type", "source", "config", "secrets"], "properties": {
                    "id": {"type": "string"}, "name": {"type": "string"}, "type": {"type": "string"},
                    "source": {"type": "string", "enum": ["config", "builtin", "database"]},
                    "config": {"type": "object", "description": "The config block without secrets"},
                    "secrets": {"type": "object", "additionalProperties": {"type": "boolean"}, "description": "Each secret key of the type: whether it has a value"},
                    "version": {"type": "string", "description": "Database connectors: the current version (the ETag without its quotes)"}}},
                "ConnectorSpec": {"type": "object", "additionalProperties": false, "required": ["type", "name"], "properties": connector_props.clone()},
                "NewConnector": {"type": "object", "additionalProperties": false, "required": ["id", "type", "name"], "properties": new_connector_props},
                "PolicyDocument": {"type": "object", "additionalProperties": false, "required": ["policy"], "properties": {
                    "source": {"type": "string", "enum": ["config", "database"], "readOnly": true},
                    "policy": {"$ref": "#/components/schemas/Policy"}}},
                "Policy": {"type": "object", "additionalProperties": false, "properties": {
                    "admins": {"type": "object", "additionalProperties": false, "properties": {
                        "groups": {"type": "array", "items": {"type": "string"}},
                        "users": {"type": "array", "items": {"type": "string"}},
                        "clients": {"type": "array", "items": {"type": "string"}}}},
                    "rules": {"type": "array", "items": {"$ref": "#/components/schemas/Rule"}}}},
                "Rule": {"type": "object", "additionalProperties": false, "required": ["name"], "properties": {
                    "name": {"type": "string"},
                    "effect": {"type": "string", "enum": ["allow", "deny"], "nullable": true},
                    "groups": {"type": "array", "items": {"type": "string"}},
                    "users": {"type": "array", "items": {"type": "string"}},
                    "registry": {"type": "array", "items": {"type": "object", "additionalProperties": false, "properties": {
                        "repositories": {"type": "array", "items": {"type": "string"}},
                        "actions": {"type": "array", "items": {"type": "string"}},
                        "catalog": {"type": "boolean"}}}},
                    "kubernetes": {"type": "array", "items": {"type": "object", "additionalProperties": false, "properties": {
                        "clusters": {"type": "array", "items": {"type": "string"}},
                        "namespaces": {"type": "array", "items": {"type": "string"}},
                        "roles": {"type": "array", "items": {"type": "string"}},
                        "clusterRoles": {"type": "array", "items": {"type": "string"}}}}}}},
                "TokenCount": {"type": "object", "required": ["client_id", "grant_type", "issued", "refused"], "properties": {
                    "client_id": {"type": "string"}, "grant_type": {"type": "string"},
                    "issued": {"type": "integer"}, "refused": {"type": "integer"}}},
                "ProbeResult": {"type": "object", "required": ["ok", "outcome", "facts"], "properties": {
                    "ok": {"type": "boolean"},
                    "outcome": {"type": "string", "enum": ["ok", "unreachable", "denied_network", "tls_failed",
                        "not_openid_provider", "keys_unreadable", "client_refused", "bind_failed",
                        "base_not_found", "search_failed"],
                        "description": "One of a fixed set: refused, timed out and any unexpected answer are all `unreachable`; the cause is in the server log"},
                    "facts": {"type": "array", "items": {"type": "string"}},
                    "error": {"type": "string"}}},
                "SessionPage": {"type": "object", "required": ["items"], "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Session"}},
                    "next_offset": {"type": "integer"}}}
            }
        }
    }))
    .into_response()
}
