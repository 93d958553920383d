//! Upload and download bytes per [`Service`]: a fixed array, since the set of services is closed.

use super::UpDown;
use crate::classify::Direction;
use crate::service::Service;

/// Bytes of each service; a service without traffic holds zero and is left out by [`iter`].
///
/// [`iter`]: ByService::iter
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ByService([UpDown; Service::COUNT]);

impl ByService {
    #[inline]
    pub fn add(&mut self, service: Service, direction: Direction, bytes: u64) {
        self.0[service.index()].add(direction, bytes);
    }

    /// Add up and down bytes of `service` at once.
    pub fn add_bytes(&mut self, service: Service, bytes: UpDown) {
        self.0[service.index()] += bytes;
    }

    pub fn get(&self, service: Service) -> UpDown {
        self.0[service.index()]
    }

    /// The services with traffic, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (Service, UpDown)> + '_ {
        Service::ALL
            .iter()
            .zip(self.0.iter())
            .filter(|(_, bytes)| bytes.up != 0 || bytes.down != 0)
            .map(|(service, bytes)| (*service, *bytes))
    }

    /// Every service's bytes added together.
    pub fn total(&self) -> UpDown {
        self.0
            .iter()
            .fold(UpDown::default(), |sum, bytes| sum + *bytes)
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

impl std::ops::Add for ByService {
    type Output = ByService;

    fn add(mut self, other: ByService) -> ByService {
        self += other;
        self
    }
}

impl std::ops::AddAssign for ByService {
    fn add_assign(&mut self, other: ByService) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine += theirs;
        }
    }
}

/// Each service's `now - taken`, stopping at zero (as [`UpDown`]'s difference).
impl std::ops::Sub for ByService {
    type Output = ByService;

    fn sub(mut self, taken: ByService) -> ByService {
        for (mine, theirs) in self.0.iter_mut().zip(taken.0) {
            *mine = *mine - theirs;
        }
        self
    }
}

impl FromIterator<(Service, UpDown)> for ByService {
    fn from_iter<I: IntoIterator<Item = (Service, UpDown)>>(items: I) -> ByService {
        let mut all = ByService::default();
        for (service, bytes) in items {
            all.add_bytes(service, bytes);
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_services_with_traffic_are_listed_and_totals_add_up() {
        let mut a = ByService::default();
        a.add(Service::Https, Direction::Up, 10);
        a.add(Service::Https, Direction::Down, 5);
        a.add(Service::Icmp, Direction::Down, 1);
        let listed: Vec<Service> = a.iter().map(|(s, _)| s).collect();
        assert_eq!(listed, [Service::Https, Service::Icmp]);
        assert_eq!(a.total(), UpDown { up: 10, down: 6 });
        let mut b = a;
        b += a;
        assert_eq!(b.get(Service::Https), UpDown { up: 20, down: 10 });
        assert_eq!(
            (a - b).total(),
            UpDown::default(),
            "differences stop at zero"
        );
        assert_eq!((b - a).get(Service::Icmp), UpDown { up: 0, down: 1 });
    }
}
