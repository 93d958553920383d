//! The fast address lookup against the slow one: `is_public` (merged ranges indexed by first byte)
//! must agree with `explain` (a linear walk over the prefixes as configured) for any set of
//! prefixes, at random addresses and at every prefix's edges, where an index is most likely wrong.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use nettraffic_sentinel::classify::AddressClassifier;

/// xorshift64*: reproducible inputs without a dependency.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn v4(&mut self) -> Ipv4Addr {
        let bits = self.next() as u32;
        // The ends of a first byte's slice are where the index's runs begin and end.
        Ipv4Addr::from(match self.below(8) {
            0 => bits | 0x00ff_ffff,
            1 => bits & 0xff00_0000,
            _ => bits,
        })
    }

    fn v6(&mut self) -> Ipv6Addr {
        // Mostly a few real-looking first bytes, so prefixes and addresses meet often.
        let first: u128 = match self.below(4) {
            0 => 0x20,
            1 => 0xfd,
            2 => 0x00,
            _ => u128::from(self.next() as u8),
        };
        let rest = match self.below(8) {
            0 => u128::MAX >> 8,
            1 => 0,
            _ => (u128::from(self.next()) << 64 | u128::from(self.next())) >> 8,
        };
        Ipv6Addr::from(first << 120 | rest)
    }

    fn prefix(&mut self) -> IpNet {
        if self.below(2) == 0 {
            let len = self.below(33) as u8;
            IpNet::V4(Ipv4Net::new(self.v4(), len).expect("length ≤ 32"))
        } else {
            let len = self.below(129) as u8;
            IpNet::V6(Ipv6Net::new(self.v6(), len).expect("length ≤ 128"))
        }
    }
}

/// The first and last address of a prefix and their neighbours outside it.
fn edges(net: &IpNet) -> Vec<IpAddr> {
    match net {
        IpNet::V4(net) => {
            let (first, last) = (u32::from(net.network()), u32::from(net.broadcast()));
            [
                Some(first),
                Some(last),
                first.checked_sub(1),
                last.checked_add(1),
            ]
            .into_iter()
            .flatten()
            .flat_map(|bits| {
                let v4 = Ipv4Addr::from(bits);
                [IpAddr::V4(v4), IpAddr::V6(v4.to_ipv6_mapped())]
            })
            .collect()
        }
        IpNet::V6(net) => {
            let (first, last) = (u128::from(net.network()), u128::from(net.broadcast()));
            [
                Some(first),
                Some(last),
                first.checked_sub(1),
                last.checked_add(1),
            ]
            .into_iter()
            .flatten()
            .map(|bits| IpAddr::V6(Ipv6Addr::from(bits)))
            .collect()
        }
    }
}

fn assert_agree(classifier: &AddressClassifier, addr: IpAddr, prefixes: &[IpNet]) {
    assert_eq!(
        classifier.is_public(addr),
        classifier.explain(addr).is_none(),
        "{addr} with configured {prefixes:?}"
    );
}

fn index_agrees_with_the_prefix_walk() {
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let built_in: Vec<IpNet> = nettraffic_sentinel::classify::BUILT_IN
        .iter()
        .map(|(net, _)| net.parse().expect("built-in prefixes parse"))
        .collect();
    for round in 0..300 {
        let count = [0, 1, 3, 20, 200][round % 5];
        let prefixes: Vec<IpNet> = (0..count).map(|_| random.prefix()).collect();
        let classifier = AddressClassifier::new(&prefixes);
        for net in prefixes.iter().chain(&built_in) {
            for addr in edges(net) {
                assert_agree(&classifier, addr, &prefixes);
            }
        }
        for _ in 0..500 {
            let v4 = random.v4();
            assert_agree(&classifier, IpAddr::V4(v4), &prefixes);
            assert_agree(&classifier, IpAddr::V6(v4.to_ipv6_mapped()), &prefixes);
            assert_agree(&classifier, IpAddr::V6(random.v6()), &prefixes);
        }
    }
}

tests! {
    index_agrees_with_the_prefix_walk,
}
