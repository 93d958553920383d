//! `classify::AddressClassifier` against rules R5.1–R5.4 of `pcaps/README.md` (SPEC §2
//! "Non-public addresses"): every built-in range at its first and last address and just outside,
//! the ranges that must stay public, IPv4-mapped addresses, configured prefixes (host bits, bare
//! addresses, overlaps, adjacency, IPv6 prefixes over mapped addresses), a model-based check of
//! hundreds of random prefixes against a naive linear scan, `explain()` and `parse_prefix` errors.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::support::ip;
use ipnet::IpNet;
use nettraffic_sentinel::classify::{AddressClassifier, NonPublic, parse_prefix};

fn builtin() -> AddressClassifier {
    AddressClassifier::default()
}

fn net(text: &str) -> IpNet {
    text.parse().expect("test prefix literal")
}

fn with_prefixes(prefixes: &[&str]) -> AddressClassifier {
    let nets: Vec<IpNet> = prefixes.iter().map(|text| net(text)).collect();
    AddressClassifier::new(&nets)
}

#[track_caller]
fn assert_public(classifier: &AddressClassifier, addresses: &[&str]) {
    for address in addresses {
        assert!(
            classifier.is_public(ip(address)),
            "{address} must be public"
        );
        assert_eq!(classifier.explain(ip(address)), None, "{address}");
    }
}

#[track_caller]
fn assert_non_public(classifier: &AddressClassifier, addresses: &[&str]) {
    for address in addresses {
        assert!(
            !classifier.is_public(ip(address)),
            "{address} must not be public"
        );
        assert!(classifier.explain(ip(address)).is_some(), "{address}");
    }
}

// ---------------------------------------------------------------------------------------------
// R5.1: built-in IPv4 ranges
// ---------------------------------------------------------------------------------------------

fn ipv4_this_network_0_0_0_0_slash_8() {
    assert_non_public(&builtin(), &["0.0.0.0", "0.1.2.3", "0.255.255.255"]);
    assert_public(&builtin(), &["1.0.0.0"]);
}

fn ipv4_private_10_slash_8() {
    assert_non_public(&builtin(), &["10.0.0.0", "10.255.255.255"]);
    assert_public(&builtin(), &["9.255.255.255", "11.0.0.0"]);
}

fn ipv4_carrier_grade_nat_100_64_slash_10() {
    assert_non_public(&builtin(), &["100.64.0.0", "100.127.255.255"]);
    assert_public(&builtin(), &["100.63.255.255", "100.128.0.0"]);
}

fn ipv4_loopback_127_slash_8() {
    assert_non_public(&builtin(), &["127.0.0.0", "127.0.0.1", "127.255.255.255"]);
    assert_public(&builtin(), &["126.255.255.255", "128.0.0.0"]);
}

fn ipv4_link_local_169_254_slash_16() {
    assert_non_public(&builtin(), &["169.254.0.0", "169.254.255.255"]);
    assert_public(&builtin(), &["169.253.255.255", "169.255.0.0"]);
}

fn ipv4_private_172_16_slash_12() {
    assert_non_public(&builtin(), &["172.16.0.0", "172.31.255.255"]);
    assert_public(&builtin(), &["172.15.255.255", "172.32.0.0"]);
}

fn ipv4_private_192_168_slash_16() {
    assert_non_public(&builtin(), &["192.168.0.0", "192.168.255.255"]);
    assert_public(&builtin(), &["192.167.255.255", "192.169.0.0"]);
}

fn ipv4_multicast_224_slash_4() {
    // mDNS and SSDP are multicast: not public (the original's bug counted them as upload).
    assert_non_public(
        &builtin(),
        &[
            "224.0.0.0",
            "224.0.0.251",
            "239.255.255.250",
            "239.255.255.255",
        ],
    );
    // Below it is public; above it is the reserved range (next test).
    assert_public(&builtin(), &["223.255.255.255"]);
}

fn ipv4_reserved_240_slash_4_includes_broadcast() {
    assert_non_public(
        &builtin(),
        &["240.0.0.0", "255.255.255.254", "255.255.255.255"],
    );
}

// ---------------------------------------------------------------------------------------------
// R5.2: built-in IPv6 ranges
// ---------------------------------------------------------------------------------------------

fn ipv6_unspecified_and_loopback_are_single_addresses() {
    assert_non_public(&builtin(), &["::", "::1"]);
    // ::2 and ::ffff (= ::0.0.0.2, ::0.0.255.255) are IPv4-compatible space: public (R5.3).
    assert_public(&builtin(), &["::2", "::ffff"]);
}

fn ipv6_link_local_fe80_slash_10() {
    assert_non_public(
        &builtin(),
        &[
            "fe80::",
            "fe80::1",
            "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ],
    );
    // Below it; above it is fec0::/10, deprecated site-local, which is public (R5.3).
    assert_public(
        &builtin(),
        &["fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fec0::"],
    );
}

fn ipv6_unique_local_fc00_slash_7() {
    assert_non_public(
        &builtin(),
        &[
            "fc00::",
            "fd00::10",
            "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ],
    );
    assert_public(
        &builtin(),
        &["fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fe00::"],
    );
}

fn ipv6_multicast_ff00_slash_8() {
    assert_non_public(
        &builtin(),
        &[
            "ff00::",
            "ff02::fb",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ],
    );
    assert_public(&builtin(), &["feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]);
}

// ---------------------------------------------------------------------------------------------
// R5.3: everything else is public
// ---------------------------------------------------------------------------------------------

fn documentation_ranges_are_public() {
    assert_public(
        &builtin(),
        &[
            "192.0.2.0",
            "192.0.2.255",
            "198.51.100.0",
            "198.51.100.255",
            "203.0.113.0",
            "203.0.113.255",
            "2001:db8::",
            "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
        ],
    );
}

fn the_explicitly_public_special_ranges_are_public() {
    assert_public(
        &builtin(),
        &[
            // IETF protocol assignments 192.0.0.0/24.
            "192.0.0.0",
            "192.0.0.255",
            // Benchmarking 198.18.0.0/15.
            "198.18.0.0",
            "198.19.255.255",
            // Deprecated site-local fec0::/10.
            "fec0::",
            "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            // 6to4 2002::/16, even when the embedded IPv4 address is private.
            "2002::",
            "2002:c0a8:010a::1",
            "2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            // NAT64 64:ff9b::/96, even for an embedded private address.
            "64:ff9b::",
            "64:ff9b::c0a8:10a",
            "64:ff9b::a00:1",
            "64:ff9b::ffff:ffff",
        ],
    );
}

fn ipv4_compatible_addresses_are_public_whatever_they_embed() {
    // ::a.b.c.d is not ::ffff:a.b.c.d: it is not classified by its IPv4 address.
    assert_public(
        &builtin(),
        &[
            "::192.168.1.10",
            "::10.0.0.1",
            "::127.0.0.1",
            "::203.0.113.5",
            "::255.255.255.255",
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// R5.2: IPv4-mapped addresses
// ---------------------------------------------------------------------------------------------

fn ipv4_mapped_addresses_follow_their_ipv4_address() {
    assert_non_public(
        &builtin(),
        &[
            "::ffff:0.0.0.0",
            "::ffff:10.0.0.1",
            "::ffff:100.64.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.1.1",
            "::ffff:172.31.255.255",
            "::ffff:192.168.1.10",
            "::ffff:224.0.0.251",
            "::ffff:255.255.255.255",
        ],
    );
    assert_public(
        &builtin(),
        &[
            "::ffff:1.0.0.0",
            "::ffff:9.255.255.255",
            "::ffff:172.32.0.0",
            "::ffff:203.0.113.5",
            "::ffff:223.255.255.255",
        ],
    );
}

fn ipv4_mapped_addresses_follow_configured_ipv4_prefixes() {
    let classifier = with_prefixes(&["203.0.113.0/24"]);
    assert_non_public(&classifier, &["203.0.113.7", "::ffff:203.0.113.7"]);
    assert_public(&classifier, &["203.0.114.0", "::ffff:203.0.114.0"]);
}

fn an_ipv6_prefix_matches_the_mapped_addresses_inside_it() {
    // R5.4: ::ffff:198.51.100.0/120 covers ::ffff:198.51.100.0 … ::ffff:198.51.100.255.
    let classifier = with_prefixes(&["::ffff:198.51.100.0/120"]);
    assert_non_public(
        &classifier,
        &[
            "::ffff:198.51.100.0",
            "::ffff:198.51.100.9",
            "::ffff:198.51.100.255",
        ],
    );
    assert_public(
        &classifier,
        &["::ffff:198.51.101.0", "::ffff:198.51.99.255"],
    );
    // Interpretation: the IPv6 prefix matches the mapped addresses, not the plain IPv4 ones
    // (R5.4 says "matches IPv4-mapped addresses"; R5.2 classifies mapped ones by their IPv4,
    // never the reverse).
    assert_public(&classifier, &["198.51.100.9"]);
    // The whole mapped space.
    let classifier = with_prefixes(&["::ffff:0:0/96"]);
    assert_non_public(&classifier, &["::ffff:8.8.8.8", "::ffff:203.0.113.5"]);
    assert_public(&classifier, &["8.8.8.8", "::8.8.8.8"]);
}

// ---------------------------------------------------------------------------------------------
// R5.4: configured prefixes
// ---------------------------------------------------------------------------------------------

fn host_bits_of_a_configured_prefix_are_ignored() {
    let classifier = with_prefixes(&["203.0.113.77/24", "2001:db8:1:2:3:4:5:6/48"]);
    assert_eq!(
        classifier.configured(),
        [net("203.0.113.0/24"), net("2001:db8:1::/48")]
    );
    assert_non_public(
        &classifier,
        &[
            "203.0.113.0",
            "203.0.113.255",
            "2001:db8:1::",
            "2001:db8:1:ffff:ffff:ffff:ffff:ffff",
        ],
    );
    assert_public(
        &classifier,
        &["203.0.112.255", "203.0.114.0", "2001:db8:2::"],
    );
    assert_eq!(parse_prefix("203.0.113.77/24"), Ok(net("203.0.113.0/24")));
    assert_eq!(
        parse_prefix("2001:db8:1:2:3:4:5:6/48"),
        Ok(net("2001:db8:1::/48"))
    );
}

fn a_bare_address_is_a_single_host() {
    assert_eq!(parse_prefix("203.0.113.77"), Ok(net("203.0.113.77/32")));
    assert_eq!(parse_prefix("2001:db8::77"), Ok(net("2001:db8::77/128")));
    assert_eq!(parse_prefix(" 198.51.100.1 "), Ok(net("198.51.100.1/32")));
    let prefixes = [
        parse_prefix("203.0.113.77").expect("an address"),
        parse_prefix("2001:db8::77").expect("an address"),
    ];
    let classifier = AddressClassifier::new(&prefixes);
    assert_non_public(&classifier, &["203.0.113.77", "2001:db8::77"]);
    assert_public(
        &classifier,
        &[
            "203.0.113.76",
            "203.0.113.78",
            "2001:db8::76",
            "2001:db8::78",
        ],
    );
}

fn overlapping_and_adjacent_configured_prefixes() {
    let classifier = with_prefixes(&[
        // Two adjacent halves of 198.51.100.0/24.
        "198.51.100.128/25",
        "198.51.100.0/25",
        // Nested prefixes: the /16 contains the /24 and the /26.
        "203.0.113.64/26",
        "203.0.0.0/16",
        "203.0.113.0/24",
        // Adjacent to the built-in 10.0.0.0/8 and overlapping 192.168.0.0/16.
        "11.0.0.0/8",
        "192.160.0.0/12",
        // IPv6: adjacent /49s, a /48 inside a /32.
        "2001:db8:1::/49",
        "2001:db8:1:8000::/49",
        "2a00:1450::/32",
        "2a00:1450:4001::/48",
    ]);
    assert_non_public(
        &classifier,
        &[
            "198.51.100.0",
            "198.51.100.127",
            "198.51.100.128",
            "198.51.100.255",
            "203.0.0.0",
            "203.0.113.70",
            "203.0.255.255",
            "10.255.255.255",
            "11.0.0.0",
            "11.255.255.255",
            "192.160.0.0",
            "192.168.1.1",
            "192.175.255.255",
            "2001:db8:1::",
            "2001:db8:1:7fff:ffff:ffff:ffff:ffff",
            "2001:db8:1:8000::",
            "2001:db8:1:ffff:ffff:ffff:ffff:ffff",
            "2a00:1450::",
            "2a00:1450:ffff:ffff:ffff:ffff:ffff:ffff",
        ],
    );
    assert_public(
        &classifier,
        &[
            "198.51.99.255",
            "198.51.101.0",
            "202.255.255.255",
            "203.1.0.0",
            "12.0.0.0",
            "192.159.255.255",
            "192.176.0.0",
            "2001:db8:0:ffff:ffff:ffff:ffff:ffff",
            "2001:db8:2::",
            "2a00:144f:ffff:ffff:ffff:ffff:ffff:ffff",
            "2a00:1451::",
        ],
    );
}

fn prefixes_covering_everything_and_the_top_of_the_space() {
    let classifier = with_prefixes(&["0.0.0.0/0", "::/0"]);
    assert_non_public(
        &classifier,
        &[
            "1.1.1.1",
            "203.0.113.5",
            "2001:db8::1",
            "2002::1",
            "::ffff:8.8.8.8",
        ],
    );
    // Ranges that end at the very last address still let the space below them be public.
    let classifier = with_prefixes(&["255.255.255.255/32", "ffff:ffff::/32"]);
    assert_public(&classifier, &["223.255.255.255", "feff::"]);
    assert_non_public(&classifier, &["255.255.255.255", "ffff:ffff::1"]);
}

// ---------------------------------------------------------------------------------------------
// Model-based check against a naive linear scan
// ---------------------------------------------------------------------------------------------

/// SplitMix64: a tiny deterministic generator, so a failure is reproducible.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn next_u128(&mut self) -> u128 {
        (u128::from(self.next()) << 64) | u128::from(self.next())
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// The rules' own list (R5.1, R5.2), written out here independently of `classify::BUILT_IN`.
const RULE_RANGES: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "fe80::/10",
    "fc00::/7",
    "ff00::/8",
];

/// The naive model: an address is non-public when any range contains it; a mapped address is
/// also non-public when any range contains its IPv4 address.
fn model_is_public(ranges: &[IpNet], addr: IpAddr) -> bool {
    let mut candidates = vec![addr];
    if let IpAddr::V6(v6) = addr
        && let Some(v4) = v6.to_ipv4_mapped()
    {
        candidates.push(IpAddr::V4(v4));
    }
    !candidates
        .iter()
        .any(|candidate| ranges.iter().any(|range| range.contains(candidate)))
}

/// Random prefixes: `count` IPv4 and `count` IPv6 ones, lengths from `v4_lengths` / `v6_lengths`,
/// with random host bits left in (the classifier must ignore them).
fn random_prefixes(
    rng: &mut SplitMix64,
    count: usize,
    v4_lengths: (u8, u8),
    v6_lengths: (u8, u8),
) -> Vec<IpNet> {
    let mut prefixes = Vec::new();
    for _ in 0..count {
        let span = u64::from(v4_lengths.1 - v4_lengths.0) + 1;
        let len = v4_lengths.0 + rng.below(span) as u8;
        let addr = Ipv4Addr::from(rng.next() as u32);
        prefixes.push(IpNet::new(IpAddr::V4(addr), len).expect("valid length"));
        let span = u64::from(v6_lengths.1 - v6_lengths.0) + 1;
        let len = v6_lengths.0 + rng.below(span) as u8;
        let bits = if rng.below(8) == 0 {
            // Some prefixes inside the mapped space, to exercise R5.4's last sentence.
            (0xffffu128 << 32) | u128::from(rng.next() as u32)
        } else {
            rng.next_u128()
        };
        let len = if bits >> 32 == 0xffff {
            len.max(96)
        } else {
            len
        };
        prefixes.push(IpNet::new(IpAddr::V6(Ipv6Addr::from(bits)), len).expect("valid length"));
    }
    prefixes
}

/// Addresses worth asking about: inside, at the edges of and just outside every configured
/// prefix, mapped forms of IPv4 ones, and uniformly random ones.
fn probe_addresses(rng: &mut SplitMix64, prefixes: &[IpNet], random: usize) -> Vec<IpAddr> {
    let mut probes = Vec::new();
    for prefix in prefixes {
        match prefix.trunc() {
            IpNet::V4(v4) => {
                let first = u32::from(v4.network());
                let last = u32::from(v4.broadcast());
                let inside = first + (rng.next() as u32) % (last - first).saturating_add(1).max(1);
                for value in [
                    Some(first),
                    Some(last),
                    Some(inside),
                    first.checked_sub(1),
                    last.checked_add(1),
                ]
                .into_iter()
                .flatten()
                {
                    let v4 = Ipv4Addr::from(value);
                    probes.push(IpAddr::V4(v4));
                    probes.push(IpAddr::V6(v4.to_ipv6_mapped()));
                }
            }
            IpNet::V6(v6) => {
                let first = u128::from(v6.network());
                let last = u128::from(v6.broadcast());
                let inside = first + rng.next_u128() % (last - first).saturating_add(1).max(1);
                for value in [
                    Some(first),
                    Some(last),
                    Some(inside),
                    first.checked_sub(1),
                    last.checked_add(1),
                ]
                .into_iter()
                .flatten()
                {
                    probes.push(IpAddr::V6(Ipv6Addr::from(value)));
                }
            }
        }
    }
    for _ in 0..random {
        let v4 = Ipv4Addr::from(rng.next() as u32);
        probes.push(IpAddr::V4(v4));
        probes.push(IpAddr::V6(v4.to_ipv6_mapped()));
        probes.push(IpAddr::V6(Ipv6Addr::from(rng.next_u128())));
    }
    probes
}

fn check_against_model(seed: u64, count: usize, v4_lengths: (u8, u8), v6_lengths: (u8, u8)) {
    let mut rng = SplitMix64(seed);
    let configured = random_prefixes(&mut rng, count, v4_lengths, v6_lengths);
    let classifier = AddressClassifier::new(&configured);
    let mut model_ranges: Vec<IpNet> = RULE_RANGES.iter().map(|text| net(text)).collect();
    model_ranges.extend(configured.iter().map(IpNet::trunc));
    let mut probes = probe_addresses(&mut rng, &configured, 5_000);
    // And the built-in ranges' edges, which configured prefixes may now touch.
    let builtin_nets: Vec<IpNet> = RULE_RANGES.iter().map(|text| net(text)).collect();
    probes.extend(probe_addresses(&mut rng, &builtin_nets, 0));
    let mut non_public = 0;
    for addr in &probes {
        let expected = model_is_public(&model_ranges, *addr);
        assert_eq!(
            classifier.is_public(*addr),
            expected,
            "{addr} (seed {seed})"
        );
        assert_eq!(classifier.explain(*addr).is_none(), expected, "{addr}");
        non_public += usize::from(!expected);
    }
    // The probes must exercise both answers substantially, or the check proves little.
    assert!(
        non_public > probes.len() / 5,
        "{non_public} of {}",
        probes.len()
    );
    assert!(
        non_public < probes.len() * 4 / 5,
        "{non_public} of {}",
        probes.len()
    );
}

fn five_hundred_random_slash_24_and_slash_48_prefixes_agree_with_a_linear_scan() {
    // 250 IPv4 /24s and 250 IPv6 /48s (mapped-space ones widened to /96 or longer).
    check_against_model(0x5eed_0001, 250, (24, 24), (48, 48));
}

fn random_prefixes_of_every_length_agree_with_a_linear_scan() {
    for seed in 1..=2 {
        check_against_model(seed, 300, (8, 32), (16, 128));
    }
}

// ---------------------------------------------------------------------------------------------
// explain() and parse_prefix errors
// ---------------------------------------------------------------------------------------------

fn explain_names_the_built_in_range_or_the_configured_prefix() {
    let classifier = with_prefixes(&["203.0.113.0/24", "2001:db8:1::/48"]);
    let cases = [
        ("0.1.2.3", NonPublic::BuiltIn("this network")),
        ("10.1.2.3", NonPublic::BuiltIn("private")),
        ("100.64.0.1", NonPublic::BuiltIn("carrier-grade NAT")),
        ("127.0.0.1", NonPublic::BuiltIn("loopback")),
        ("169.254.1.1", NonPublic::BuiltIn("link-local")),
        ("172.16.0.1", NonPublic::BuiltIn("private")),
        ("192.168.1.1", NonPublic::BuiltIn("private")),
        ("224.0.0.251", NonPublic::BuiltIn("multicast")),
        (
            "255.255.255.255",
            NonPublic::BuiltIn("reserved and broadcast"),
        ),
        ("::", NonPublic::BuiltIn("unspecified")),
        ("::1", NonPublic::BuiltIn("loopback")),
        ("fe80::1", NonPublic::BuiltIn("link-local")),
        ("fd00::1", NonPublic::BuiltIn("unique local")),
        ("ff02::fb", NonPublic::BuiltIn("multicast")),
        // A mapped address explains itself through its IPv4 address.
        ("::ffff:10.0.0.1", NonPublic::BuiltIn("private")),
        ("203.0.113.5", NonPublic::Configured(net("203.0.113.0/24"))),
        (
            "::ffff:203.0.113.5",
            NonPublic::Configured(net("203.0.113.0/24")),
        ),
        (
            "2001:db8:1::5",
            NonPublic::Configured(net("2001:db8:1::/48")),
        ),
    ];
    for (address, expected) in cases {
        assert_eq!(classifier.explain(ip(address)), Some(expected), "{address}");
    }
    for public in [
        "198.51.100.1",
        "2001:db8::1",
        "::ffff:8.8.8.8",
        "::10.0.0.1",
    ] {
        assert_eq!(classifier.explain(ip(public)), None, "{public}");
    }
}

fn parse_prefix_errors_quote_the_input() {
    for bad in [
        "banana",
        "10.0.0.0/33",
        "fe80::/129",
        "10.0.0/8",
        "1.2.3.4/",
        "/24",
        "2001:db8::/-1",
        "10.0.0.0/8/8",
        "",
    ] {
        let error = parse_prefix(bad).expect_err(bad);
        assert!(error.contains(&format!("'{bad}'")), "{error}");
    }
    // Surrounding whitespace is not part of the prefix, neither when parsing nor when quoting.
    let error = parse_prefix("  nonsense\t").expect_err("not a prefix");
    assert!(error.contains("'nonsense'"), "{error}");
}

tests! {
    ipv4_this_network_0_0_0_0_slash_8,
    ipv4_private_10_slash_8,
    ipv4_carrier_grade_nat_100_64_slash_10,
    ipv4_loopback_127_slash_8,
    ipv4_link_local_169_254_slash_16,
    ipv4_private_172_16_slash_12,
    ipv4_private_192_168_slash_16,
    ipv4_multicast_224_slash_4,
    ipv4_reserved_240_slash_4_includes_broadcast,
    ipv6_unspecified_and_loopback_are_single_addresses,
    ipv6_link_local_fe80_slash_10,
    ipv6_unique_local_fc00_slash_7,
    ipv6_multicast_ff00_slash_8,
    documentation_ranges_are_public,
    the_explicitly_public_special_ranges_are_public,
    ipv4_compatible_addresses_are_public_whatever_they_embed,
    ipv4_mapped_addresses_follow_their_ipv4_address,
    ipv4_mapped_addresses_follow_configured_ipv4_prefixes,
    an_ipv6_prefix_matches_the_mapped_addresses_inside_it,
    host_bits_of_a_configured_prefix_are_ignored,
    a_bare_address_is_a_single_host,
    overlapping_and_adjacent_configured_prefixes,
    prefixes_covering_everything_and_the_top_of_the_space,
    five_hundred_random_slash_24_and_slash_48_prefixes_agree_with_a_linear_scan,
    random_prefixes_of_every_length_agree_with_a_linear_scan,
    explain_names_the_built_in_range_or_the_configured_prefix,
    parse_prefix_errors_quote_the_input,
}
