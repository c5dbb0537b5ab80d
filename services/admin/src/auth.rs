//! Bearer tokens: the accepted token a caller presented, compared in
//! constant time, and how a caller is named without its token.

use hookline_model::catalog::Secret;
use hookline_model::signing;

/// The accepted token `presented` is, if any. Every token is compared, so
/// timing does not tell which one matched.
pub(crate) fn matching_token<'a>(tokens: &'a [Secret], presented: &str) -> Option<&'a Secret> {
    tokens.iter().fold(None, |found, t| {
        if signing::constant_time_eq(t.expose().as_bytes(), presented.as_bytes()) {
            Some(t)
        } else {
            found
        }
    })
}

/// How a caller is named: `token:1a2b3c4d`, the first bytes of the token's
/// SHA-256, never the token.
pub(crate) fn fingerprint(token: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(token.as_bytes());
    format!("token:{}", hex::encode(&digest[..4]))
}
