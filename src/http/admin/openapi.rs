//! `/api/v1/openapi.json`: the admin API's OpenAPI document, which schemathesis checks the API
//! against. It is generated from the request and response types and from the `utoipa::path`
//! attribute on each handler, so a field added to a type shows up here on its own; only what
//! depends on the running config (the server URL, the clusters an explanation can name, the
//! connectors a client may be allowed) is filled in per request.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ArrayBuilder, ObjectBuilder, RefOr, Schema, ServerBuilder, Type};

use super::{api, audit, clients, connectors, factors, keys, policy, sessions, users};
use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/openapi.json", get(openapi))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gantry admin API",
        version = "1",
        description = "Users, clients, connectors and the policy carry a version: the ETag of a GET (and of the answer to a change), and `version` in list items. A PUT, PATCH, DELETE or secret rotation with If-Match is made only on that version (412 otherwise, and nothing changes), so two admins working from the same read cannot overwrite each other unseen; one without If-Match is unconditional."
    ),
    paths(
        sessions::list_sessions,
        sessions::revoke_user,
        sessions::revoke_session,
        sessions::list_browser_sessions,
        sessions::end_browser_session,
        factors::list_factors,
        factors::reset_factors,
        keys::list_keys,
        keys::rotate_keys,
        audit::list_audit,
        audit::token_counts,
        users::api_list,
        users::api_create,
        users::api_get,
        users::api_change,
        users::api_delete,
        connectors::api_list,
        connectors::api_create,
        connectors::api_get,
        connectors::api_update,
        connectors::api_delete,
        connectors::api_test,
        policy::get_policy,
        policy::put_policy,
        policy::api_reset_policy,
        policy::explain,
        clients::api_list,
        clients::api_create,
        clients::api_get,
        clients::api_update,
        clients::api_delete,
        clients::api_rotate,
    ),
    components(responses(api::Problem)),
    modifiers(&Security),
    security(("bearer" = []), ("session" = []))
)]
struct AdminApi;

/// The two ways to call the API, as `ApiAdmin` accepts them.
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "client_credentials access token of a client in policy.admins.clients",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                super::SESSION_COOKIE,
                "the admin pages' session; a change made with it needs Origin of this Gantry, \
                 Sec-Fetch-Site: same-origin, or the page's form token in X-CSRF-Token (else 403)",
            ))),
        );
    }
}

/// The document for this config.
async fn openapi(State(s): State<AppState>) -> Response {
    let mut doc = AdminApi::openapi();
    doc.servers = Some(vec![ServerBuilder::new().url(s.web.url("/api/v1")).build()]);
    // The clusters of this config are the only ones an explanation can name; empty or null
    // names none.
    let mut clusters: Vec<serde_json::Value> = s
        .provider
        .clusters
        .iter()
        .map(|c| c.clone().into())
        .collect();
    clusters.push("".into());
    clusters.push(serde_json::Value::Null);
    let cluster = ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::String,
            Type::Null,
        ]))
        .enum_values(Some(clusters));
    if let Some(RefOr::T(Schema::Object(explain))) = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("ExplainRequest"))
    {
        explain
            .properties
            .insert("cluster".into(), cluster.build().into());
    }
    // A client may be allowed only the connectors there are now.
    let ids: Vec<serde_json::Value> = s
        .provider
        .connector_ids()
        .into_iter()
        .map(Into::into)
        .collect();
    let allowed = ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(ids)),
        )
        .build();
    // A chain may name only the configured authenticators (none configured: empty).
    let served: Vec<serde_json::Value> = s
        .provider
        .second_factors
        .authenticators
        .all
        .iter()
        .map(|a| a.id.clone().into())
        .collect();
    let mut chain = ArrayBuilder::new();
    if served.is_empty() {
        chain = chain.max_items(Some(0));
    } else {
        chain = chain.items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(served)),
        );
    }
    let chain = chain.build();
    for name in ["ClientSpec", "NewClient"] {
        if let Some(RefOr::T(Schema::Object(spec))) = doc
            .components
            .as_mut()
            .and_then(|c| c.schemas.get_mut(name))
        {
            spec.properties
                .insert("allowed_connectors".into(), allowed.clone().into());
            spec.properties
                .insert("mfa_chain".into(), chain.clone().into());
        }
    }
    axum::Json(doc).into_response()
}
