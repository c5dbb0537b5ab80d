//! Console sessions. The login form takes an admin token and answers a
//! session cookie that never holds the token: `expiry.nonce.mac`, where the
//! MAC is keyed by the token. Any admin copy can check it without shared
//! state, a session ends when its token is removed from
//! `HOOKLINE_ADMIN_TOKENS`, and a stolen cookie expires. Forms carry a CSRF
//! token derived from the session; requests from another origin are refused
//! before any of that is looked at.

use hookline_model::catalog::Secret;
use hookline_model::clock;
use hookline_model::signing;
use hyper::HeaderMap;
use hyper::header::{COOKIE, HOST, ORIGIN};

use crate::auth::{fingerprint, matching_token};

/// The session cookie's name.
pub const COOKIE_NAME: &str = "hookline_session";
/// The one-shot notice cookie (what the last action did).
pub const NOTICE_COOKIE: &str = "hookline_notice";
/// How long a session lasts.
pub const LIFETIME_MS: i64 = 12 * 3600 * 1000;
/// Where the cookies apply.
const PATH: &str = "/console";

/// A signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// The token's fingerprint, as the API names callers.
    pub caller: String,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
}

/// The MAC of `value` for `purpose`, keyed by `token`.
fn mac(token: &Secret, purpose: &str, value: &str) -> String {
    let key = token.expose().as_bytes();
    hex::encode(signing::hmac_sha256(
        key,
        &[b"hookline-console/", purpose.as_bytes(), b"\0", value.as_bytes()],
    ))
}

fn session_for(token: &Secret, cookie: &str) -> Session {
    Session {
        caller: fingerprint(token.expose()),
        csrf: mac(token, "csrf", cookie),
    }
}

/// A new session cookie value for `presented`, if it is an accepted token.
pub fn issue(tokens: &[Secret], presented: &str) -> Option<String> {
    let token = matching_token(tokens, presented.trim())?;
    let expires = clock::now_ms() + LIFETIME_MS;
    let nonce = hex::encode(rand::random::<[u8; 16]>());
    let body = format!("{expires}.{nonce}");
    Some(format!("{body}.{}", mac(token, "session", &body)))
}

/// The session a request's cookie proves, if any.
pub fn check(tokens: &[Secret], headers: &HeaderMap) -> Option<Session> {
    let value = cookie(headers, COOKIE_NAME)?;
    let (body, presented) = value.rsplit_once('.')?;
    let expires: i64 = body.split_once('.')?.0.parse().ok()?;
    if expires <= clock::now_ms() {
        return None;
    }
    // Every token is tried, so timing does not tell which one matched.
    let found = tokens.iter().fold(None, |found, token| {
        let ok = signing::constant_time_eq(mac(token, "session", body).as_bytes(), presented.as_bytes());
        if ok { Some(token) } else { found }
    })?;
    Some(session_for(found, &value))
}

/// Whether a form's CSRF field is this session's.
pub fn csrf_ok(session: &Session, presented: Option<&str>) -> bool {
    presented.is_some_and(|p| signing::constant_time_eq(session.csrf.as_bytes(), p.as_bytes()))
}

/// Whether a state-changing request comes from the console's own pages:
/// browsers name the page's origin (`Origin`, `Sec-Fetch-Site`) on every
/// POST, and one from another site is refused whatever cookie it carries.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site")
        && site != "same-origin"
        && site != "none"
    {
        return false;
    }
    match (header(ORIGIN.as_str()), header(HOST.as_str())) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host)),
        (Some(_), None) => false,
    }
}

/// The value of cookie `name`.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

/// `Set-Cookie` for a session (or, with `None`, one that ends it).
/// `Secure` is added when the console is reached over HTTPS (directly or
/// through a proxy that says so).
pub fn set_cookie(value: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match value {
        Some(v) => format!(
            "{COOKIE_NAME}={v}; Path={PATH}; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            LIFETIME_MS / 1000
        ),
        None => format!("{COOKIE_NAME}=; Path={PATH}; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// `Set-Cookie` for a one-shot notice (or, with `None`, one that clears it).
pub fn notice_cookie(text: Option<&str>) -> String {
    match text {
        Some(t) => {
            let encoded: String = form_urlencoded::byte_serialize(t.as_bytes()).collect();
            format!("{NOTICE_COOKIE}={encoded}; Path={PATH}; HttpOnly; SameSite=Strict; Max-Age=60")
        }
        None => format!("{NOTICE_COOKIE}=; Path={PATH}; HttpOnly; SameSite=Strict; Max-Age=0"),
    }
}

/// The notice a request carries, decoded.
pub fn notice(headers: &HeaderMap) -> Option<String> {
    let raw = cookie(headers, NOTICE_COOKIE).filter(|v| !v.is_empty())?;
    let decoded: String = form_urlencoded::parse(format!("n={raw}").as_bytes())
        .map(|(_, v)| v.into_owned())
        .next()?;
    Some(decoded.chars().take(500).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn secret(value: &str) -> Secret {
        hookline_model::catalog::SecretRef::new(value)
            .resolve()
            .expect("a literal")
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("header"));
        }
        map
    }

    #[test]
    fn a_session_is_proved_by_its_token_and_never_holds_it() {
        let tokens = vec![secret("first-token-0123456789"), secret("second-token-0123456789")];
        assert!(issue(&tokens, "wrong-token-0123456789").is_none());
        let value = issue(&tokens, "second-token-0123456789").expect("accepted");
        assert!(!value.contains("second-token"), "the cookie never carries the token");
        let session = check(&tokens, &headers(&[("cookie", &format!("a=b; {COOKIE_NAME}={value}"))])).expect("valid");
        assert_eq!(session.caller, fingerprint("second-token-0123456789"));
        assert!(csrf_ok(&session, Some(&session.csrf)));
        assert!(!csrf_ok(&session, Some("0000")));
        assert!(!csrf_ok(&session, None));

        // Removing the token from the configuration ends its sessions.
        let rotated = vec![secret("first-token-0123456789")];
        assert!(check(&rotated, &headers(&[("cookie", &format!("{COOKIE_NAME}={value}"))])).is_none());
        // A changed expiry breaks the MAC.
        let (_, rest) = value.split_once('.').expect("expiry");
        let forged = format!("{}.{rest}", i64::MAX);
        assert!(check(&tokens, &headers(&[("cookie", &format!("{COOKIE_NAME}={forged}"))])).is_none());
        // An expired one is refused.
        let old_body = format!("{}.00", clock::now_ms() - 1);
        let old = format!("{old_body}.{}", mac(&tokens[0], "session", &old_body));
        assert!(check(&tokens, &headers(&[("cookie", &format!("{COOKIE_NAME}={old}"))])).is_none());
    }

    #[test]
    fn only_the_consoles_own_origin_may_post() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8081")])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8081"),
            ("origin", "http://127.0.0.1:8081"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8081"),
            ("origin", "http://evil.example"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8081"),
            ("sec-fetch-site", "cross-site"),
        ])));
        assert!(!same_origin(&headers(&[("origin", "null")])));
    }

    #[test]
    fn notices_round_trip_through_their_cookie() {
        let set = notice_cookie(Some("Replayed 3 dead letters; see <b>"));
        let value = set.split(';').next().expect("pair").to_owned();
        let got = notice(&headers(&[("cookie", &value)])).expect("notice");
        assert_eq!(got, "Replayed 3 dead letters; see <b>");
    }
}
