//! One admin API route: its method, its path template and its handler,
//! declared next to the handler in that handler's module (each module's
//! `ROUTES`); `api.rs` serves their union and derives the 405s, the
//! metrics' route labels and the list the OpenAPI document is checked
//! against from it.

use futures::future::BoxFuture;
use hookline_runtime::serve::{self, Body};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::Value;

use crate::error::{AdminError, Answer};
use crate::params::Params;
use crate::state::AdminState;

/// Largest admin request body.
const MAX_BODY: usize = 1024 * 1024;

/// What a handler is given: the request, its path's `{…}` segments in
/// order, its query and who called.
pub struct Call<'a> {
    /// What handlers share.
    pub state: &'a AdminState,
    /// The request (its body unread).
    pub req: Request<Incoming>,
    /// The path's `{…}` segments, in order.
    pub ids: Vec<String>,
    /// The query parameters.
    pub params: &'a Params,
    /// The caller's token fingerprint (empty on public routes).
    pub caller: String,
}

impl Call<'_> {
    /// The `n`th `{…}` segment of the path.
    pub fn id(&self, n: usize) -> &str {
        self.ids.get(n).map_or("", String::as_str)
    }

    /// The revision named by `If-Match: "N"` (or `N`), if any.
    pub fn if_match(&self) -> Result<Option<u64>, AdminError> {
        let Some(value) = self.req.headers().get(hyper::header::IF_MATCH) else {
            return Ok(None);
        };
        value
            .to_str()
            .ok()
            .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
            .and_then(|v| v.parse().ok())
            .map(Some)
            .ok_or_else(|| AdminError::Invalid(vec!["If-Match: give the object's revision, such as \"12\"".to_owned()]))
    }

    /// The JSON body, or `None` when there is none.
    pub async fn optional_json(self) -> Result<Option<Value>, AdminError> {
        let bytes = Limited::new(self.req.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| AdminError::Invalid(vec![format!("body: {e}")]))?
            .to_bytes();
        if bytes.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| AdminError::Invalid(vec![format!("body is not JSON: {e}")]))
    }

    /// The JSON body (`null` when there is none).
    pub async fn json(self) -> Result<Value, AdminError> {
        Ok(self.optional_json().await?.unwrap_or(Value::Null))
    }
}

/// A handler: the call in, the HTTP answer out.
pub type Handler = for<'a> fn(Call<'a>) -> BoxFuture<'a, Result<Response<Body>, AdminError>>;

/// One route.
pub struct Route {
    /// `GET`, `PUT`, …
    pub method: &'static str,
    /// `/v1/runs/{run_id}`: a `{…}` segment fits any one segment.
    pub template: &'static str,
    /// Served without a token (probes and metrics: figures, never secrets).
    pub public: bool,
    /// What answers it.
    pub handler: Handler,
}

impl Route {
    /// The `{…}` segments of `segments` when they fit this route's template.
    pub fn fit(&self, segments: &[&str]) -> Option<Vec<String>> {
        let parts: Vec<&str> = self.template.trim_matches('/').split('/').collect();
        if parts.len() != segments.len() {
            return None;
        }
        let mut ids = Vec::new();
        for (part, segment) in parts.iter().zip(segments) {
            if part.starts_with('{') {
                ids.push((*segment).to_owned());
            } else if part != segment {
                return None;
            }
        }
        Some(ids)
    }
}

/// A handler's typed answer as the HTTP response: JSON, or no body for 204.
pub fn respond(answer: Answer) -> Result<Response<Body>, AdminError> {
    let (status, value) = answer?;
    if status == 204 {
        let mut response = serve::json(204, &Value::Null);
        *response.body_mut() = serve::empty();
        return Ok(response);
    }
    Ok(serve::json(status, &value))
}

/// Declares a route whose handler answers JSON: `route!("GET",
/// "/v1/runs", |c| ops::runs(c.state, c.params))`.
macro_rules! json_route {
    ($method:literal, $template:literal, |$call:ident| $body:expr) => {
        $crate::route::Route {
            method: $method,
            template: $template,
            public: false,
            handler: |$call| Box::pin(async move { $crate::route::respond($body.await) }),
        }
    };
}
pub(crate) use json_route;

/// Declares a route whose handler answers a typed model value, sent as
/// JSON with 200: `typed_route!("GET", "/v1/runs", |c| ops::runs(c.state,
/// c.params))`. The console calls the same handlers and gets the values.
macro_rules! typed_route {
    ($method:literal, $template:literal, |$call:ident| $body:expr) => {
        $crate::route::Route {
            method: $method,
            template: $template,
            public: false,
            handler: |$call| {
                Box::pin(async move {
                    let answer = async { $crate::error::reply(200, &$body.await?) }.await;
                    $crate::route::respond(answer)
                })
            },
        }
    };
}
pub(crate) use typed_route;
