//! The client address of a request: the TCP peer, unless the peer is a
//! configured trusted proxy, in which case the right-most address in
//! `X-Forwarded-For` that is not itself a trusted proxy. Pure code.

use std::net::IpAddr;

use ipnet::IpNet;

/// Proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses `10.0.0.0/8, 127.0.0.1` (addresses or CIDR ranges).
    pub fn parse(text: &str) -> Result<Self, String> {
        hookline_model::settings::parse_ip_ranges(text).map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client address for a request from `peer` with these
    /// `X-Forwarded-For` values.
    pub fn client_ip<'a>(&self, peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<IpAddr> = forwarded_for
            .flat_map(|v| v.split(','))
            .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
            .collect();
        hops.iter()
            .rev()
            .find(|ip| !self.trusts(**ip))
            .or(hops.first())
            .copied()
            .unwrap_or(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").expect("valid");
        let rows = [
            (
                "203.0.113.9",
                vec!["1.2.3.4"],
                "203.0.113.9",
                "untrusted peer: header ignored",
            ),
            ("10.1.1.1", vec!["1.2.3.4"], "1.2.3.4", "trusted peer: its client"),
            (
                "10.1.1.1",
                vec!["6.6.6.6, 1.2.3.4, 10.2.2.2"],
                "1.2.3.4",
                "right-most untrusted hop; a spoofed left part is ignored",
            ),
            (
                "10.1.1.1",
                vec!["6.6.6.6", "1.2.3.4"],
                "1.2.3.4",
                "several headers read in order",
            ),
            (
                "127.0.0.1",
                vec!["garbage, 10.0.0.5"],
                "10.0.0.5",
                "all trusted: the left-most valid",
            ),
            ("10.1.1.1", vec![], "10.1.1.1", "no header: the peer"),
            ("10.1.1.1", vec!["not an ip"], "10.1.1.1", "nothing valid: the peer"),
        ];
        for (peer, header, expected, why) in rows {
            assert_eq!(trusted.client_ip(ip(peer), header.into_iter()), ip(expected), "{why}");
        }
        assert_eq!(
            TrustedProxies::default().client_ip(ip("10.1.1.1"), ["1.2.3.4"].into_iter()),
            ip("10.1.1.1")
        );
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
    }
}
