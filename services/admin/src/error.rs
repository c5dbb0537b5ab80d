//! Why an admin request failed, and the one place that maps it to an HTTP
//! status and a JSON error body; what a JSON handler answers.

use hookline_runtime::serve::{self, Body};
use hyper::Response;
use serde_json::Value;

use crate::model::{ErrorBody, ErrorDetail};

/// What a JSON handler answers.
pub type Answer = Result<(u16, Value), AdminError>;

/// Answers `status` with a typed body (from [`crate::model`]).
pub fn reply<T: serde::Serialize>(status: u16, body: &T) -> Answer {
    Ok((status, serde_json::to_value(body).map_err(AdminError::unavailable)?))
}

/// Why an admin request failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No or a wrong bearer token.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// No such route or object.
    #[error("{0}")]
    NotFound(String),
    /// The request is invalid; every problem is listed.
    #[error("the request is invalid")]
    Invalid(Vec<String>),
    /// The change would leave the configuration invalid.
    #[error("the change conflicts with the rest of the configuration")]
    Conflict(Vec<String>),
    /// The request comes too late for where its object stands (a run
    /// someone approved already); the message says who and when.
    #[error("{0}")]
    State(String),
    /// The method is not served on this path; these are.
    #[error("method not allowed; this path answers {}", .0.join(", "))]
    MethodNotAllowed(Vec<&'static str>),
    /// NATS could not be read or written.
    #[error("{0}")]
    Unavailable(String),
}

impl AdminError {
    /// NATS (or another part) could not do what was asked: 503.
    pub fn unavailable(e: impl std::fmt::Display) -> Self {
        AdminError::Unavailable(e.to_string())
    }

    /// The HTTP status, the JSON error code and the listed problems.
    pub fn parts(&self) -> (u16, &'static str, Option<&Vec<String>>) {
        match self {
            AdminError::Unauthorized => (401, "unauthorized", None),
            AdminError::NotFound(_) => (404, "not_found", None),
            AdminError::Invalid(p) => (400, "invalid", Some(p)),
            AdminError::Conflict(p) => (409, "conflict", Some(p)),
            AdminError::State(_) => (409, "conflict", None),
            AdminError::MethodNotAllowed(_) => (405, "method_not_allowed", None),
            AdminError::Unavailable(_) => (503, "unavailable", None),
        }
    }

    /// The HTTP answer: status, `{"error": {code, message, problems}}`.
    pub fn response(&self) -> Response<Body> {
        let (status, code, problems) = self.parts();
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message: self.to_string(),
                problems: problems.cloned(),
            },
        };
        let mut response = serve::json(status, &body);
        if let AdminError::MethodNotAllowed(allowed) = self
            && let Ok(value) = hyper::header::HeaderValue::from_str(&allowed.join(", "))
        {
            // RFC 9110: a 405 names the methods the path does answer.
            response.headers_mut().insert(hyper::header::ALLOW, value);
        }
        response
    }
}
