//! Which peer addresses may send bid requests for an exchange: a list of
//! CIDR networks, empty meaning "anyone".
//!
//! Checked once per request against the TCP peer address; pure arithmetic,
//! never allocates.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// One network, `10.0.0.0/8` or `2001:db8::/32`; a bare address is a /32 or
/// /128.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// Why a network did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP address or CIDR network")]
pub struct IpNetError(pub String);

impl FromStr for IpNet {
    type Err = IpNetError;

    fn from_str(s: &str) -> Result<IpNet, IpNetError> {
        let bad = || IpNetError(s.to_string());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().map_err(|_| bad())?,
            None => max,
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(IpNet { addr, prefix })
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl IpNet {
    /// Whether `ip` lies in this network. An IPv4-mapped IPv6 peer
    /// (`::ffff:10.1.2.3`, what a dual-stack listener reports) is compared
    /// as the IPv4 address it carries.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The networks an exchange sends from; empty allows every address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList(Vec<IpNet>);

impl AllowList {
    /// A list of networks.
    pub fn new(nets: Vec<IpNet>) -> AllowList {
        AllowList(nets)
    }

    /// Whether every address may send (no network listed).
    pub fn is_open(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` may send requests.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.0.is_empty() || self.0.iter().any(|n| n.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_network_contains_only_its_addresses() {
        let net: IpNet = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains(ip("10.1.255.7")));
        assert!(!net.contains(ip("10.2.0.1")));
    }

    #[test]
    fn bare_address_is_a_single_host() {
        let net: IpNet = "192.0.2.7".parse().unwrap();
        assert!(net.contains(ip("192.0.2.7")));
        assert!(!net.contains(ip("192.0.2.8")));
    }

    #[test]
    fn zero_prefix_matches_everything_of_its_family() {
        let net: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(net.contains(ip("203.0.113.9")));
        assert!(!net.contains(ip("2001:db8::1")));
    }

    #[test]
    fn ipv4_mapped_peer_matches_ipv4_network() {
        let net: IpNet = "127.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("::ffff:127.0.0.1")));
    }

    #[test]
    fn ipv6_network_contains_only_its_addresses() {
        let net: IpNet = "2001:db8::/32".parse().unwrap();
        assert!(net.contains(ip("2001:db8:1::5")));
        assert!(!net.contains(ip("2001:db9::5")));
    }

    #[test]
    fn prefix_longer_than_the_address_is_refused() {
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("not-an-ip/8".parse::<IpNet>().is_err());
    }

    #[test]
    fn empty_allow_list_allows_everyone() {
        assert!(AllowList::default().allows(ip("198.51.100.1")));
        let list = AllowList::new(vec!["10.0.0.0/8".parse().unwrap()]);
        assert!(!list.allows(ip("198.51.100.1")));
    }
}
