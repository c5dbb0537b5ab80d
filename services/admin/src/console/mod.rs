//! The web console, served by the control plane under `/console` on the
//! admin listener. It signs in with an admin token (kept as a session
//! cookie, see [`session`]), renders server-side HTML from the admin API's
//! own answers ([`pages`], [`run_pages`], templates in `templates/`), and
//! turns each form into the API call it stands for ([`actions`]). Pages read
//! without JavaScript; the one script follows a running run's log. The
//! stylesheet and script are compiled into the binary.
//!
//! Every page and action needs a session (else: the login); every action
//! also needs this session's CSRF token and a same-origin request.

pub mod actions;
pub mod pages;
pub mod rows;
pub mod run_pages;
pub mod session;
pub mod session_view;
pub mod views;

use std::collections::HashMap;

use bytes::Bytes;
use hookline_runtime::serve::{self, Body};
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response};

use crate::error::AdminError;
use crate::params::Params;
use crate::state::AdminState;
use session::Session;
use views::Chrome;

/// Largest form body (a payload typed into a textarea).
const MAX_FORM: usize = 256 * 1024;

const CSS: &str = include_str!("../../static/console.css");
const JS: &str = include_str!("../../static/console.js");

/// Answers one `/console/...` request (`path` is what follows `console`).
pub async fn route(state: &AdminState, req: Request<Incoming>, path: &[&str], query: &Params) -> Response<Body> {
    let path: Vec<&str> = path.iter().copied().filter(|s| !s.is_empty()).collect();
    let method = req.method().clone();
    match (&method, path.as_slice()) {
        (&Method::GET, ["static", "console.css"]) => return asset("text/css; charset=utf-8", CSS),
        (&Method::GET, ["static", "console.js"]) => return asset("text/javascript; charset=utf-8", JS),
        (&Method::GET, ["login"]) => return login_page(query.text("next"), None, 200),
        (&Method::POST, ["login"]) => return login(state, req).await,
        _ => {}
    }
    let Some(session) = session::check(&state.tokens, req.headers()) else {
        let next = if method == Method::GET {
            req.uri().path_and_query().map(|p| p.as_str())
        } else {
            None
        };
        return redirect(&login_url(next), &[]);
    };
    if let Err(e) = crate::params::check_ids(&ids_of(&path)) {
        return error_page(&chrome(&session, "", None), &e);
    }
    match method {
        Method::GET => get(state, req, &session, &path, query).await,
        Method::POST => post(state, req, &session, &path).await,
        _ => error_page(
            &chrome(&session, "", None),
            &AdminError::MethodNotAllowed(vec!["GET", "POST"]),
        ),
    }
}

/// The path as the API's id check reads it (`/v1/<kind>/<id>/...`).
fn ids_of<'p>(path: &[&'p str]) -> Vec<&'p str> {
    let mut ids = vec!["v1"];
    ids.extend_from_slice(path);
    ids
}

fn chrome(session: &Session, active: &'static str, notice: Option<String>) -> Chrome {
    Chrome {
        active,
        csrf: session.csrf.clone(),
        caller: session.caller.clone(),
        notice,
    }
}

async fn get(
    state: &AdminState,
    req: Request<Incoming>,
    session: &Session,
    path: &[&str],
    query: &Params,
) -> Response<Body> {
    if let ["runs", run_id, "log"] = path {
        // The live log: the API's followed log, for the page's script.
        let follow = Params::parse(Some("follow=true"));
        return match crate::logs::run_log_as(state, run_id, &follow, crate::logs::LineText::Plain).await {
            Ok(response) => response,
            Err(e) => error_page(&chrome(session, "runs", None), &e),
        };
    }
    if let ["runs", run_id, "transcript"] = path {
        // The live transcript: the API's event stream, for the page's script.
        let follow = Params::parse(Some("follow=true"));
        return match crate::sessions::transcript(state, run_id, &follow).await {
            Ok(response) => response,
            Err(e) => error_page(&chrome(session, "runs", None), &e),
        };
    }
    let notice = session::notice(req.headers());
    let active = match path.first() {
        None => "overview",
        Some(&"sources") => "sources",
        Some(&"agents") => "agents",
        Some(&"runs") => "runs",
        Some(&"events") => "events",
        Some(&"subscriptions") => "subscriptions",
        Some(_) => "",
    };
    let chrome = chrome(session, active, notice.clone());
    let page = match path {
        [] => pages::overview(state, chrome).await,
        ["sources"] => pages::sources(state, chrome).await,
        ["sources", id] => pages::source(state, chrome, id, query).await,
        ["agents"] => run_pages::agents(state, chrome).await,
        ["agents", id] => run_pages::agent(state, chrome, id).await,
        ["runs"] => run_pages::runs(state, chrome, query).await,
        ["runs", run_id] => run_pages::run(state, chrome, run_id).await,
        ["events"] => run_pages::explain(state, chrome, query).await,
        ["subscriptions"] => pages::subscriptions(state, chrome).await,
        ["subscriptions", id] => pages::subscription(state, chrome, id, query).await,
        _ => Err(AdminError::NotFound("no such page".into())),
    };
    let mut response = match page {
        Ok(html) => html_response(200, html),
        Err(e) => error_page(&self::chrome(session, active, None), &e),
    };
    if notice.is_some() {
        set_cookie(&mut response, &session::notice_cookie(None));
    }
    response
}

async fn post(state: &AdminState, req: Request<Incoming>, session: &Session, path: &[&str]) -> Response<Body> {
    if !session::same_origin(req.headers()) {
        return forbidden(session);
    }
    let form = match read_form(req).await {
        Ok(form) => form,
        Err(e) => return error_page(&chrome(session, "", None), &e),
    };
    if !session::csrf_ok(session, form.get("_csrf").map(String::as_str)) {
        return forbidden(session);
    }
    if path == ["logout"] {
        return redirect("/console/login", &[&session::set_cookie(None, false)]);
    }
    let done = match actions::act(state, session, path, &form).await {
        Ok(done) => done,
        Err(e) => actions::Done {
            to: actions::back(path),
            notice: refusal(&e),
        },
    };
    redirect(&done.to, &[&session::notice_cookie(Some(&done.notice))])
}

/// An error as one line for a notice.
fn refusal(e: &AdminError) -> String {
    let (_, _, problems) = e.parts();
    match problems {
        Some(p) if !p.is_empty() => format!("Not done: {e}: {}", p.join("; ")),
        _ => format!("Not done: {e}."),
    }
}

fn forbidden(session: &Session) -> Response<Body> {
    let e = AdminError::Invalid(vec![
        "the form did not come from this console (another site, or an old page): reload and try again".to_owned(),
    ]);
    let mut response = error_page(&chrome(session, "", None), &e);
    *response.status_mut() = hyper::StatusCode::FORBIDDEN;
    response
}

async fn read_form(req: Request<Incoming>) -> Result<actions::Form, AdminError> {
    let bytes: Bytes = Limited::new(req.into_body(), MAX_FORM)
        .collect()
        .await
        .map_err(|e| AdminError::Invalid(vec![format!("form: {e}")]))?
        .to_bytes();
    Ok(form_urlencoded::parse(&bytes).into_owned().collect::<HashMap<_, _>>())
}

/// Where the login sends a browser afterwards: only a console path.
fn safe_next(next: Option<&str>) -> &str {
    next.filter(|n| n.starts_with("/console") && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or("/console")
}

fn login_url(next: Option<&str>) -> String {
    let next = safe_next(next);
    if next == "/console" {
        return "/console/login".to_owned();
    }
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("next", next)
        .finish();
    format!("/console/login?{query}")
}

fn login_page(next: Option<&str>, error: Option<String>, status: u16) -> Response<Body> {
    let page = views::Login {
        next: safe_next(next).to_owned(),
        error,
    };
    match pages::render(&page) {
        Ok(html) => html_response(status, html),
        Err(e) => serve::text(500, "text/plain; charset=utf-8", e.to_string()),
    }
}

async fn login(state: &AdminState, req: Request<Incoming>) -> Response<Body> {
    if !session::same_origin(req.headers()) {
        return login_page(
            None,
            Some("This sign-in form was posted from another site.".to_owned()),
            403,
        );
    }
    let secure = forwarded_https(&req);
    let form = match read_form(req).await {
        Ok(form) => form,
        Err(e) => return login_page(None, Some(e.to_string()), 400),
    };
    let next = form.get("next").map(String::as_str);
    let issued = form.get("token").and_then(|t| session::issue(&state.tokens, t));
    if let Some(metrics) = hookline_runtime::metrics::get() {
        let outcome = if issued.is_some() { "signed_in" } else { "refused" };
        let labels = hookline_runtime::metrics::OutcomeLabels {
            outcome: outcome.to_owned(),
        };
        metrics.console_sign_ins.get_or_create(&labels).inc();
    }
    match issued {
        Some(cookie) => redirect(safe_next(next), &[&session::set_cookie(Some(&cookie), secure)]),
        None => login_page(next, Some("That token is not one of the admin tokens.".to_owned()), 401),
    }
}

fn forwarded_https(req: &Request<Incoming>) -> bool {
    req.headers()
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

pub(crate) fn html_response(status: u16, html: String) -> Response<Body> {
    let mut response = serve::text(status, "text/html; charset=utf-8", html);
    let headers = response.headers_mut();
    // Scripts and styles only from the console itself, no framing, and no
    // page kept in a shared cache.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn asset(content_type: &'static str, text: &'static str) -> Response<Body> {
    let mut response = serve::text(200, content_type, text.to_owned());
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
        .headers_mut()
        .insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

fn redirect(to: &str, cookies: &[&str]) -> Response<Body> {
    let mut response = serve::text(303, "text/plain; charset=utf-8", String::new());
    if let Ok(location) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    for cookie in cookies {
        set_cookie(&mut response, cookie);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn set_cookie(response: &mut Response<Body>, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn error_page(chrome: &Chrome, e: &AdminError) -> Response<Body> {
    let (status, _, problems) = e.parts();
    let title = match status {
        404 => "Not found",
        400 => "Not valid",
        409 => "Conflict",
        503 => "Unavailable",
        _ => "Not done",
    };
    let page = views::ErrorPage {
        chrome: Chrome {
            active: chrome.active,
            csrf: chrome.csrf.clone(),
            caller: chrome.caller.clone(),
            notice: None,
        },
        title: title.to_owned(),
        message: e.to_string(),
        problems: problems.cloned().unwrap_or_default(),
    };
    match pages::render(&page) {
        Ok(html) => html_response(status, html),
        Err(render) => serve::text(500, "text/plain; charset=utf-8", render.to_string()),
    }
}
