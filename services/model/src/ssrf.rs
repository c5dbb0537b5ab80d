//! The guard against server-side request forgery for subscriber URLs: only
//! http and https, and no address in a loopback, private, link-local
//! (cloud metadata), shared, multicast or reserved range, unless an operator
//! allow-lists it. Pure code; the notifier applies it to every address it
//! resolves and connects only to the addresses that passed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Why a target was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsrfError {
    /// Not an http(s) URL.
    #[error("only http:// and https:// URLs are allowed")]
    Scheme,
    /// The URL has no host.
    #[error("the URL has no host")]
    NoHost,
    /// The address is in a blocked range; the setting that allow-lists it.
    #[error("{0} is a loopback, private, link-local or reserved address (allow-list it with {1})")]
    Blocked(IpAddr, &'static str),
    /// A plain `http://` URL to an address not allow-listed, where the
    /// request carries a credential (a model upstream).
    #[error("{0} is plain http to an address that is not allow-listed: use https, or allow-list it with {1}")]
    PlainHttp(String, &'static str),
}

fn blocked_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || a >= 240 // reserved
}

fn blocked_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return blocked_v4(v4);
    }
    let first = ip.segments()[0];
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first == 0x64 && ip.segments()[1] == 0xff9b) // NAT64 can reach IPv4 ranges
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
}

/// Whether `ip` is in a range a subscriber URL may not reach by default.
pub fn is_blocked(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => blocked_v6(v6),
    }
}

/// The setting that allow-lists subscriber addresses.
pub const DELIVERY_ALLOW: &str = "HOOKLINE_DELIVERY_ALLOW";
/// The setting that allow-lists addresses a run's egress proxy and model
/// gateways reach.
pub const EGRESS_ALLOW: &str = "HOOKLINE_EGRESS_ALLOW";

/// The allow-list and the checks that use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    allow: Vec<IpNet>,
    /// The setting the allow-list comes from, named in refusals.
    setting: &'static str,
}

impl Default for Guard {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            setting: DELIVERY_ALLOW,
        }
    }
}

impl Guard {
    /// A guard for subscribers allowing `allow` (addresses or CIDR ranges,
    /// comma-separated, as [`DELIVERY_ALLOW`] holds them).
    pub fn parse(allow: &str) -> Result<Self, String> {
        Self::parse_setting(DELIVERY_ALLOW, allow)
    }

    /// A guard allowing `allow`, read from the setting `setting`.
    pub fn parse_setting(setting: &'static str, allow: &str) -> Result<Self, String> {
        crate::parse::parse_ip_ranges(allow).map(|allow| Self { allow, setting })
    }

    /// A guard that allows every address (for tests of other things only).
    pub fn allow_all() -> Self {
        Self::parse("0.0.0.0/0,::/0").unwrap_or_default()
    }

    /// Ok when `ip` may be connected to.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), SsrfError> {
        if is_blocked(ip) && !self.allow.iter().any(|net| net.contains(&ip)) {
            Err(SsrfError::Blocked(ip, self.setting))
        } else {
            Ok(())
        }
    }

    /// Checks what can be checked without resolving: the scheme, and the host
    /// when it is an IP literal or `localhost`.
    pub fn check_url(&self, url: &str) -> Result<(), SsrfError> {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or(SsrfError::Scheme)?;
        let host = host_of(rest);
        if host.is_empty() {
            return Err(SsrfError::NoHost);
        }
        if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
            return self.check_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        match host.parse::<IpAddr>() {
            Ok(ip) => self.check_ip(ip),
            Err(_) => Ok(()),
        }
    }
}

impl Guard {
    /// [`Guard::check_url`] for a URL a request carrying a credential goes
    /// to (a model upstream): plain `http://` only to an allow-listed
    /// address literal or `localhost`, so a key never crosses a network in
    /// clear text unless the operator said that network is theirs.
    pub fn check_credentialed_url(&self, url: &str) -> Result<(), SsrfError> {
        self.check_url(url)?;
        let Some(rest) = url.strip_prefix("http://") else {
            return Ok(());
        };
        let host = host_of(rest);
        let ip = if host.eq_ignore_ascii_case("localhost") {
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        } else {
            host.parse::<IpAddr>().ok()
        };
        match ip {
            Some(ip) if self.allow.iter().any(|net| net.contains(&ip)) => Ok(()),
            _ => Err(SsrfError::PlainHttp(url.to_owned(), self.setting)),
        }
    }
}

/// The host of a URL after its scheme (`user@host:port/path`).
fn host_of(rest: &str) -> &str {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    }
}

/// The one SSRF rule for every writer of the catalog (`apply`, `up`, the
/// admin API): each subscription URL `delivery` refuses and each model
/// upstream `egress` refuses ([`Guard::check_credentialed_url`]) is a
/// problem, named by subscription or profile and model.
pub fn check_catalog(delivery: &Guard, egress: &Guard, catalog: &crate::catalog::Catalog) -> Result<(), Vec<String>> {
    let subscriptions = catalog.subscriptions.iter().filter_map(|(id, sub)| {
        delivery
            .check_url(&sub.url)
            .err()
            .map(|e| format!("subscription `{id}`: {e}"))
    });
    let models = catalog.profiles.iter().flat_map(|(id, profile)| {
        profile.models.iter().filter_map(move |(name, model)| {
            egress
                .check_credentialed_url(&model.upstream)
                .err()
                .map(|e| format!("profile `{id}`: model `{name}` upstream: {e}"))
        })
    });
    let problems: Vec<String> = subscriptions.chain(models).collect();
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dangerous_targets_are_refused_unless_allowed() {
        let guard = Guard::default();
        let rows = [
            ("http://127.0.0.1/x", false, "loopback"),
            ("http://10.0.0.1/x", false, "private"),
            ("http://172.16.5.4/x", false, "private"),
            ("http://192.168.1.1/x", false, "private"),
            ("http://169.254.169.254/latest/meta-data", false, "cloud metadata"),
            ("http://100.64.0.1/", false, "shared address space"),
            ("http://0.0.0.0/", false, "unspecified"),
            ("http://[::1]:8080/x", false, "IPv6 loopback"),
            ("http://[fd00:ec2::254]/", false, "IPv6 unique local (AWS metadata)"),
            ("http://[fe80::1]/", false, "IPv6 link-local"),
            ("http://[::ffff:127.0.0.1]/", false, "IPv4-mapped loopback"),
            ("http://localhost:9000/", false, "localhost by name"),
            ("http://user@127.0.0.1/", false, "userinfo does not hide the host"),
            ("ftp://example.com/", false, "scheme"),
            (
                "https://example.com/hooks",
                true,
                "a public name (checked again when resolved)",
            ),
            ("https://93.184.216.34/", true, "a public address"),
        ];
        for (url, ok, why) in rows {
            assert_eq!(guard.check_url(url).is_ok(), ok, "{why}: {url}");
        }
    }

    #[test]
    fn the_allow_list_opens_exactly_its_ranges() {
        let guard = Guard::parse("127.0.0.1, 10.1.0.0/16").expect("valid");
        assert!(guard.check_url("http://127.0.0.1:8080/").is_ok());
        assert!(guard.check_url("http://10.1.2.3/").is_ok());
        assert!(guard.check_url("http://10.2.0.1/").is_err());
        assert!(guard.check_url("http://169.254.169.254/").is_err());
        assert!(Guard::parse("nonsense").is_err());
        assert!(Guard::allow_all().check_url("http://169.254.169.254/").is_ok());
    }

    #[test]
    fn a_credential_goes_over_plain_http_only_to_an_allow_listed_address() {
        let strict = Guard::parse_setting(EGRESS_ALLOW, "").expect("valid");
        let local = Guard::parse_setting(EGRESS_ALLOW, "127.0.0.1").expect("valid");
        let rows = [
            (&strict, "https://api.anthropic.com", true, "https to a public name"),
            (
                &strict,
                "http://api.anthropic.com",
                false,
                "plain http to a public name",
            ),
            (
                &strict,
                "http://93.184.216.34/v1",
                false,
                "plain http to a public address",
            ),
            (&strict, "http://127.0.0.1:4000", false, "loopback, not allowed"),
            (&strict, "https://10.0.0.5", false, "a private address, not allowed"),
            (&local, "http://127.0.0.1:4000", true, "loopback, allowed"),
            (&local, "http://localhost:4000", true, "localhost, allowed"),
            (&local, "http://10.0.0.5", false, "a private address outside the list"),
        ];
        for (guard, url, ok, why) in rows {
            assert_eq!(guard.check_credentialed_url(url).is_ok(), ok, "{why}: {url}");
        }
        let refused = strict
            .check_credentialed_url("http://127.0.0.1:4000")
            .expect_err("refused");
        assert_eq!(
            refused.to_string(),
            "127.0.0.1 is a loopback, private, link-local or reserved address (allow-list it with HOOKLINE_EGRESS_ALLOW)"
        );
    }
}
