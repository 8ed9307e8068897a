//! Egress policy: which addresses a delivery may connect to, checked on the address actually
//! connected to (after DNS) so that a receiver's DNS cannot point a delivery at internal services.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::Uri;
use hyper_util::client::legacy::connect::dns::Name;
use ipnet::IpNet;

/// What an address is, as far as egress is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// 169.254.0.0/16 and fe80::/10.
    LinkLocal,
    /// 169.254.169.254, fd00:ec2::254 and 100.100.100.200 (Alibaba Cloud, inside the CGNAT
    /// range): the instance metadata services hand out credentials.
    Metadata,
    /// 127.0.0.0/8 and ::1.
    Loopback,
    /// RFC 1918: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16.
    Private,
    /// RFC 6598 carrier-grade NAT: 100.64.0.0/10.
    SharedCgnat,
    /// IPv6 unique local addresses: fc00::/7.
    UniqueLocal,
    /// RFC 8215 local-use NAT64, 64:ff9b:1::/48: a private network's own translator, whose
    /// prefix length (and so where the IPv4 address sits) only that network knows.
    LocalNat64,
    /// 0.0.0.0/8 and ::, which Linux and macOS treat as "this host" when connecting.
    Unspecified,
    /// Special-purpose ranges no public receiver lives in, some used inside networks:
    /// 198.18.0.0/15 (benchmarking), 192.0.0.0/24 (protocol assignments), 240.0.0.0/4
    /// (reserved, the broadcast address among them), multicast (224.0.0.0/4, ff00::/8) and
    /// IPv6 site-local (fec0::/10, deprecated but still routed inside some networks).
    Reserved,
    /// Everything else.
    Public,
}

impl AddressClass {
    fn description(self) -> &'static str {
        match self {
            AddressClass::LinkLocal => "a link-local address",
            AddressClass::Metadata => "a cloud metadata address",
            AddressClass::Loopback => "a loopback address",
            AddressClass::Private => "a private (RFC 1918) address",
            AddressClass::SharedCgnat => "a shared (CGNAT, RFC 6598) address",
            AddressClass::UniqueLocal => "a unique local (IPv6 ULA) address",
            AddressClass::LocalNat64 => "a local-use NAT64 (RFC 8215) address",
            AddressClass::Unspecified => "an unspecified address",
            AddressClass::Reserved => "a reserved (special-purpose) address",
            AddressClass::Public => "a public address",
        }
    }
}

const METADATA_V4: [Ipv4Addr; 2] = [Ipv4Addr::new(169, 254, 169, 254), Ipv4Addr::new(100, 100, 100, 200)];
const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);

pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => embedded_v4(v6).map_or_else(|| classify_v6(v6), classify_v4),
    }
}

/// 64:ff9b:1::/48 (RFC 8215): private-use, whatever it embeds. Its most common layout is a
/// /96 with the IPv4 address last, so when that reads as an address refused even without
/// `--deny-private-networks` (metadata, link-local), that class wins.
fn classify_local_nat64(ip: Ipv6Addr) -> AddressClass {
    let [.., a, b, c, d] = ip.octets();
    match classify_v4(Ipv4Addr::new(a, b, c, d)) {
        class @ (AddressClass::Metadata | AddressClass::LinkLocal) => class,
        _ => AddressClass::LocalNat64,
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, ..] = ip.octets();
    if METADATA_V4.contains(&ip) {
        AddressClass::Metadata
    } else if ip.is_link_local() {
        AddressClass::LinkLocal
    } else if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_private() {
        AddressClass::Private
    } else if a == 100 && b & 0xc0 == 64 {
        AddressClass::SharedCgnat
    } else if a == 0 {
        AddressClass::Unspecified
    } else if (a == 198 && b & 0xfe == 18) || (a == 192 && b == 0 && ip.octets()[2] == 0) || a >= 224 {
        AddressClass::Reserved
    } else {
        AddressClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    if ip == METADATA_V6 {
        AddressClass::Metadata
    } else if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_unspecified() {
        AddressClass::Unspecified
    } else if ip.is_unicast_link_local() {
        AddressClass::LinkLocal
    } else if ip.is_unique_local() {
        AddressClass::UniqueLocal
    } else if matches!(ip.segments(), [0x64, 0xff9b, 1, ..]) {
        classify_local_nat64(ip)
    } else if ip.is_multicast() || ip.segments()[0] & 0xffc0 == 0xfec0 {
        AddressClass::Reserved
    } else {
        AddressClass::Public
    }
}

/// The IPv4 address an IPv6 address reaches, for the forms whose traffic ends up at that IPv4
/// address: mapped (`::ffff:a.b.c.d`, dual-stack sockets), translated (`::ffff:0:a.b.c.d`,
/// SIIT, RFC 6145), compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`, RFC 6052's
/// well-known /96, translated by the network's gateway), 6to4 (`2002:AABB:CCDD::/48`,
/// tunnelled to a.b.c.d by the host's or a relay's 6to4 interface) and Teredo
/// (`2001:0::/32`, whose last 32 bits are the client's IPv4 address inverted).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let [.., a, b, c, d] = ip.octets();
    let last = Ipv4Addr::new(a, b, c, d);
    match ip.segments() {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] | [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(last),
        [0, 0, 0, 0, 0, 0, _, _] if !ip.is_unspecified() && !ip.is_loopback() => Some(last),
        [0x2002, high, low, ..] => Some(Ipv4Addr::from((u32::from(high) << 16) | u32::from(low))),
        [0x2001, 0, ..] => Some(Ipv4Addr::from(!u32::from(last))),
        _ => None,
    }
}

/// An address refused by [`EgressPolicy::check`]. Its message names only the address, never the
/// URL, so it can be logged and stored with the delivery as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub ip: IpAddr,
    pub class: AddressClass,
    pub rule: std::borrow::Cow<'static, str>,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "egress refused: {} is {} ({})", self.ip, self.class.description(), self.rule)
    }
}

impl Error for Refused {}

/// `--deny-private-networks` and `--egress-allow`; link-local and metadata addresses are refused
/// whatever the flags say.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    deny_private: bool,
    allow: Vec<IpNet>,
}

impl EgressPolicy {
    pub fn new(deny_private: bool, allow: Vec<IpNet>) -> Self {
        Self { deny_private, allow }
    }

    pub fn check(&self, ip: IpAddr) -> Result<(), Refused> {
        let class = classify(ip);
        let rule = match class {
            AddressClass::Public => return Ok(()),
            AddressClass::LinkLocal | AddressClass::Metadata => "always refused".into(),
            _ if !self.deny_private || self.allows(ip) => return Ok(()),
            _ => deny_private_rule(class, ip),
        };
        Err(Refused { ip, class, rule })
    }

    /// An operator writes `--egress-allow 127.0.0.0/8` meaning the IPv4 loopback however it is
    /// spelled, so the IPv4 address of `::ffff:127.0.0.1` (the same host's socket) is matched
    /// too; not that of a NAT64, 6to4 or Teredo address, which goes to a translator or relay
    /// first: those are allowed by their own IPv6 prefix.
    fn allows(&self, ip: IpAddr) -> bool {
        let same_host = match ip {
            IpAddr::V6(v6) => spelt_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.allow.iter().any(|net| net.contains(&ip) || same_host.is_some_and(|v4| net.contains(&v4)))
    }
}

/// The IPv4 address an IPv6 address merely spells (mapped `::ffff:a.b.c.d`, translated
/// `::ffff:0:a.b.c.d`, compatible `::a.b.c.d`): a connection to it is one to that address.
fn spelt_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    match ip.segments() {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] | [0, 0, 0, 0, 0, 0, _, _] => embedded_v4(ip),
        _ => None,
    }
}

/// The allowance that reaches a tunnelled or translated form (NAT64, 6to4, Teredo) and no
/// more: the address itself, or for 6to4 the /48 that carries its IPv4 address (its whole
/// prefix would allow every private address behind the translator or relay).
fn tunnel_allowance(ip: Ipv6Addr) -> Option<String> {
    match ip.segments() {
        [0x2002, ..] => Some(format!("{}/48", Ipv6Addr::from(u128::from(ip) & !((1u128 << 80) - 1)))),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] | [0x2001, 0, ..] => Some(format!("{ip}/128")),
        _ => None,
    }
}

/// The rule, with the block to allow: the one the classification put the address in, or
/// for a tunnelled form its own allowance.
fn deny_private_rule(class: AddressClass, ip: IpAddr) -> std::borrow::Cow<'static, str> {
    match ip {
        IpAddr::V6(v6) => match tunnel_allowance(v6) {
            Some(cidr) => {
                format!("--deny-private-networks; allow this address alone with --egress-allow {cidr}").into()
            }
            None => deny_private_block(class, ip).into(),
        },
        IpAddr::V4(_) => deny_private_block(class, ip).into(),
    }
}

fn deny_private_block(class: AddressClass, ip: IpAddr) -> &'static str {
    macro_rules! allow_with {
        ($cidr:literal) => {
            concat!("--deny-private-networks; allow it with --egress-allow ", $cidr)
        };
    }
    let v4 = match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => embedded_v4(v6),
    };
    match (class, v4.map(|v4| v4.octets()[0])) {
        (AddressClass::Loopback, Some(_)) => allow_with!("127.0.0.0/8"),
        (AddressClass::Loopback, None) => allow_with!("::1/128"),
        (AddressClass::Private, Some(10)) => allow_with!("10.0.0.0/8"),
        (AddressClass::Private, Some(172)) => allow_with!("172.16.0.0/12"),
        (AddressClass::Private, _) => allow_with!("192.168.0.0/16"),
        (AddressClass::SharedCgnat, _) => allow_with!("100.64.0.0/10"),
        (AddressClass::UniqueLocal, _) => allow_with!("fc00::/7"),
        (AddressClass::LocalNat64, _) => allow_with!("64:ff9b:1::/48"),
        (AddressClass::Unspecified, Some(_)) => allow_with!("0.0.0.0/8"),
        (AddressClass::Unspecified, None) => allow_with!("::/128"),
        (AddressClass::Reserved, Some(198)) => allow_with!("198.18.0.0/15"),
        (AddressClass::Reserved, Some(192)) => allow_with!("192.0.0.0/24"),
        (AddressClass::Reserved, Some(224..=239)) => allow_with!("224.0.0.0/4"),
        (AddressClass::Reserved, Some(_)) => allow_with!("240.0.0.0/4"),
        (AddressClass::Reserved, None) if matches!(ip, IpAddr::V6(v6) if v6.is_multicast()) => allow_with!("ff00::/8"),
        (AddressClass::Reserved, None) => allow_with!("fec0::/10"),
        (AddressClass::LinkLocal | AddressClass::Metadata | AddressClass::Public, _) => "always refused",
    }
}

/// `--egress-allow` values: a CIDR block, or a bare address meaning just that address.
pub fn parse_cidr(text: &str) -> Result<IpNet, String> {
    let trimmed = text.trim();
    trimmed
        .parse::<IpNet>()
        .map(|net| net.trunc())
        .or_else(|_| trimmed.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is not a CIDR block or an IP address (e.g. 10.0.0.0/8, fd00::/8, 127.0.0.1)"))
}

/// hyper's connector dials a host that parses as an IP address (std's strict forms, IPv6
/// in brackets) without consulting the resolver, so those are checked here, read the same
/// way, before the request is sent. Every other host goes through [`GuardedResolver`],
/// including the forms a browser would read as an address (`0x7f.0.0.1`, `2130706433`):
/// the system resolver reads them as addresses too, and the resolver checks what it gets.
pub fn check_uri_host(policy: &EgressPolicy, uri: &Uri) -> Result<(), Refused> {
    let host = uri.host().unwrap_or_default();
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    match host.parse::<IpAddr>() {
        Ok(ip) => policy.check(ip),
        Err(_) => Ok(()),
    }
}

/// A resolver that hands the connector only addresses the policy allows: the check is on
/// what is connected to, so a name that resolves differently on each lookup (DNS
/// rebinding) cannot slip past a check made earlier.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: Arc<EgressPolicy>,
}

type BoxError = Box<dyn Error + Send + Sync>;

impl GuardedResolver {
    pub fn new(policy: Arc<EgressPolicy>) -> Self {
        Self { policy }
    }

    /// The allowed addresses `host` resolves to, or the first refusal when none is allowed.
    pub async fn resolve(&self, host: &str) -> Result<std::vec::IntoIter<SocketAddr>, BoxError> {
        let mut refused = None;
        let allowed: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
            .await?
            .filter(|addr| match self.policy.check(addr.ip()) {
                Ok(()) => true,
                Err(refusal) => {
                    refused.get_or_insert(refusal);
                    false
                }
            })
            .collect();
        match refused {
            Some(refusal) if allowed.is_empty() => Err(refusal.into()),
            _ => Ok(allowed.into_iter()),
        }
    }
}

/// What hyper's connector calls to resolve a name.
impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let resolver = self.clone();
        Box::pin(async move { resolver.resolve(name.as_str()).await })
    }
}

/// The refusal behind a failed request, if that is why it failed: hyper wraps the
/// resolver's error a few levels deep.
pub fn refusal_in<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a Refused> {
    std::iter::successors(Some(error), |&e| e.source()).find_map(|e| e.downcast_ref::<Refused>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use AddressClass::*;

    const CASES: &[(&str, AddressClass)] = &[
        ("169.254.169.254", Metadata),
        ("169.254.1.1", LinkLocal),
        ("fe80::1", LinkLocal),
        ("febf:ffff::1", LinkLocal),
        ("fd00:ec2::254", Metadata),
        ("fd00:ec2::253", UniqueLocal),
        ("fd12::1", UniqueLocal),
        ("fc00::1", UniqueLocal),
        ("10.1.2.3", Private),
        ("172.16.0.1", Private),
        ("172.31.255.255", Private),
        ("172.32.0.1", Public),
        ("192.168.1.1", Private),
        ("100.64.0.1", SharedCgnat),
        ("100.100.100.200", Metadata),
        ("100.127.255.255", SharedCgnat),
        ("100.128.0.1", Public),
        ("127.0.0.1", Loopback),
        ("127.255.255.254", Loopback),
        ("::1", Loopback),
        ("0.0.0.0", Unspecified),
        ("0.1.2.3", Unspecified),
        ("::", Unspecified),
        ("::ffff:127.0.0.1", Loopback),
        ("::ffff:10.0.0.1", Private),
        ("::ffff:169.254.169.254", Metadata),
        ("::ffff:8.8.8.8", Public),
        ("::127.0.0.1", Loopback),
        ("::169.254.169.254", Metadata),
        ("::0.0.0.2", Unspecified),
        ("64:ff9b::a9fe:a9fe", Metadata),
        ("64:ff9b::7f00:1", Loopback),
        ("64:ff9b::808:808", Public),
        ("64:ff9b::a00:1", Private),
        ("64:ff9b::6440:1", SharedCgnat),
        ("::ffff:0:7f00:1", Loopback), // SIIT (IPv4-translated), RFC 6145
        ("::ffff:0:a00:1", Private),
        ("::ffff:0:a9fe:a9fe", Metadata),
        ("::ffff:0:808:808", Public),
        ("64:ff9b:1::808:808", LocalNat64), // RFC 8215: private-use, whatever it embeds
        ("64:ff9b:1:ffff:ffff:ffff:ffff:ffff", LocalNat64),
        ("64:ff9b:1::7f00:1", LocalNat64),
        ("64:ff9b:1::a9fe:a9fe", Metadata),
        ("64:ff9b:1::a9fe:101", LinkLocal),
        ("64:ff9b:2::808:808", Public),
        ("2002:7f00:1::", Loopback),
        ("2002:a9fe:a9fe::1", Metadata),
        ("2002:c0a8:101:1::1", Private),
        ("2002:808:808::1", Public),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", Loopback), // client 127.0.0.1, inverted
        ("2001:0:4136:e378:8000:63bf:f5ff:fefe", Private),  // client 10.0.1.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Public),   // RFC 4380's example, 192.0.2.45
        ("2001:db8::1", Public),
        ("8.8.8.8", Public),
        ("2606:4700::1111", Public),
        ("fec0::1", Reserved),
        ("feff::1", Reserved),
        ("198.18.0.1", Reserved),
        ("198.19.255.255", Reserved),
        ("198.20.0.1", Public),
        ("192.0.0.9", Reserved),
        ("192.0.1.1", Public),
        ("240.0.0.1", Reserved),
        ("255.255.255.255", Reserved),
        ("224.0.0.1", Reserved),
        ("ff02::1", Reserved),
        ("::ffff:198.18.0.1", Reserved),
    ];

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn allow(cidrs: &[&str]) -> Vec<IpNet> {
        cidrs.iter().map(|c| parse_cidr(c).unwrap()).collect()
    }

    #[test]
    fn classify_follows_the_table() {
        for &(text, want) in CASES {
            assert_eq!(classify(ip(text)), want, "{text}");
        }
    }

    #[test]
    fn check_refuses_what_each_policy_says() {
        let open = EgressPolicy::default();
        let strict = EgressPolicy::new(true, vec![]);
        for &(text, class) in CASES {
            let always = matches!(class, LinkLocal | Metadata);
            assert_eq!(open.check(ip(text)).is_err(), always, "default policy, {text}");
            assert_eq!(strict.check(ip(text)).is_err(), class != Public, "deny_private, {text}");
        }
    }

    #[test]
    fn allow_list_makes_exceptions_except_for_always_refused_addresses() {
        let policy = EgressPolicy::new(true, allow(&["127.0.0.0/8", "169.254.0.0/16", "fd00::/8", "10.9.9.9"]));
        for (text, passes) in [
            ("127.0.0.1", true),
            ("127.255.255.254", true),
            ("::ffff:127.0.0.1", true),
            ("::127.0.0.1", true),
            // Through a translator or relay: not this host's loopback, allowed by its prefix.
            ("64:ff9b::7f00:1", false),
            ("2002:7f00:1::", false),
            ("2001:0:4136:e378:8000:63bf:80ff:fffe", false),
            ("::1", false),
            ("fd12::1", true),
            ("10.9.9.9", true),
            ("10.9.9.8", false),
            ("192.168.1.1", false),
            ("169.254.169.254", false),
            ("169.254.1.1", false),
            ("::ffff:169.254.169.254", false),
            ("fd00:ec2::254", false),
        ] {
            assert_eq!(policy.check(ip(text)).is_ok(), passes, "{text}");
        }
        let loopback = EgressPolicy::new(true, allow(&["::1"]));
        assert_eq!(loopback.check(ip("::1")), Ok(()));
        assert!(loopback.check(ip("127.0.0.1")).is_err());
    }

    #[test]
    fn refusals_name_the_address_what_it_is_and_the_rule() {
        let strict = EgressPolicy::new(true, vec![]);
        for (text, message) in [
            (
                "127.0.0.1",
                "egress refused: 127.0.0.1 is a loopback address (--deny-private-networks; allow it with --egress-allow 127.0.0.0/8)",
            ),
            ("169.254.169.254", "egress refused: 169.254.169.254 is a cloud metadata address (always refused)"),
            ("fe80::1", "egress refused: fe80::1 is a link-local address (always refused)"),
            (
                "172.20.0.1",
                "egress refused: 172.20.0.1 is a private (RFC 1918) address (--deny-private-networks; allow it with --egress-allow 172.16.0.0/12)",
            ),
            (
                "::ffff:192.168.0.1",
                "egress refused: ::ffff:192.168.0.1 is a private (RFC 1918) address (--deny-private-networks; allow it with --egress-allow 192.168.0.0/16)",
            ),
            (
                "::",
                "egress refused: :: is an unspecified address (--deny-private-networks; allow it with --egress-allow ::/128)",
            ),
            (
                "64:ff9b:1::808:808",
                "egress refused: 64:ff9b:1::808:808 is a local-use NAT64 (RFC 8215) address (--deny-private-networks; allow it with --egress-allow 64:ff9b:1::/48)",
            ),
        ] {
            let refused = strict.check(ip(text)).unwrap_err();
            assert_eq!(refused.to_string(), message);
        }
    }

    #[test]
    fn suggested_allowances_do_allow() {
        for &(text, class) in CASES {
            if matches!(class, Public | LinkLocal | Metadata) {
                continue;
            }
            let refused = EgressPolicy::new(true, vec![]).check(ip(text)).unwrap_err();
            let cidr = refused.rule.rsplit(' ').next().unwrap();
            assert_eq!(EgressPolicy::new(true, allow(&[cidr])).check(ip(text)), Ok(()), "{text} with {cidr}");
        }
    }

    #[test]
    fn literal_addresses_in_uris_are_checked_before_connecting() {
        let strict = EgressPolicy::new(true, vec![]);
        for (url, refused) in [
            ("http://127.0.0.1:8080/", Some(("127.0.0.1", Loopback))),
            ("http://[::ffff:7f00:1]/", Some(("::ffff:127.0.0.1", Loopback))),
            ("http://[::1]:9/", Some(("::1", Loopback))),
            ("http://169.254.169.254/latest", Some(("169.254.169.254", Metadata))),
            ("https://[fd00:ec2::254]/", Some(("fd00:ec2::254", Metadata))),
            ("http://8.8.8.8/", None),
            ("https://hooks.example.com/x", None),
        ] {
            let got = check_uri_host(&strict, &url.parse().unwrap()).err().map(|r| (r.ip, r.class));
            assert_eq!(got, refused.map(|(text, class)| (ip(text), class)), "{url}");
        }
        let metadata = "http://169.254.169.254/latest".parse().unwrap();
        assert!(check_uri_host(&EgressPolicy::default(), &metadata).is_err());
    }

    #[tokio::test]
    async fn addresses_written_as_names_are_checked_where_they_resolve() {
        // Not std's literal forms, so the connector hands them to the resolver, which reads
        // them as the system does: as 127.0.0.1. Nothing is dialled.
        for host in ["0x7f.0.0.1", "2130706433", "127.1"] {
            assert_eq!(
                check_uri_host(&EgressPolicy::new(true, vec![]), &format!("http://{host}/").parse().unwrap()),
                Ok(())
            );
            let resolver = GuardedResolver::new(Arc::new(EgressPolicy::new(true, vec![])));
            let err = resolver.resolve(host).await.err().unwrap();
            let refusal = refusal_in(&*err).unwrap();
            assert_eq!((refusal.ip, refusal.class), (ip("127.0.0.1"), Loopback), "{host}");
        }
    }

    #[test]
    fn parse_cidr_takes_blocks_and_bare_addresses() {
        for (text, want) in [
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("::1/128", "::1/128"),
            ("127.0.0.1", "127.0.0.1/32"),
            ("::1", "::1/128"),
            ("fd00::/8", "fd00::/8"),
            ("10.1.2.3/8", "10.0.0.0/8"),
        ] {
            assert_eq!(parse_cidr(text).map(|n| n.to_string()), Ok(want.to_string()), "{text}");
        }
        for text in ["", "10.0.0.0/33", "localhost", "10.0.0/8", "::1/129"] {
            let err = parse_cidr(text).unwrap_err();
            assert!(err.contains(&format!("{text:?}")), "{err}");
        }
    }

    #[tokio::test]
    async fn resolver_refuses_localhost_unless_allowed() {
        let resolver = GuardedResolver::new(Arc::new(EgressPolicy::new(true, vec![])));
        let err = resolver.resolve("localhost").await.err().unwrap();
        let refusal = refusal_in(&*err).unwrap();
        assert_eq!(refusal.class, Loopback, "{refusal}");

        // Resolution only: the addresses are returned, not dialled. localhost may resolve to ::1 too.
        let resolver = GuardedResolver::new(Arc::new(EgressPolicy::new(true, allow(&["127.0.0.0/8", "::1"]))));
        let allowed: Vec<SocketAddr> = resolver.resolve("localhost").await.unwrap().collect();
        assert!(!allowed.is_empty());
        assert!(allowed.iter().all(|a| a.ip().is_loopback()), "{allowed:?}");
    }
}
