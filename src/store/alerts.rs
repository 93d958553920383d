//! The alerts' states: which alert has fired for which billing cycle, and whether it was
//! delivered. The quota engine above decides what an alert is; the store keeps opaque records
//! under `(cycle start, alert code)` and commits each change durably before it returns, so a
//! crash right after it never loses the change.
//!
//! The table (`quota_alerts`, see [`crate::store`]) is created by the first alert written: a
//! file from before it has none and reads as "nothing fired", so no upgrade is needed, and a
//! program that predates it ignores the table.

use redb::{Durability, ReadableTable, TableError};

use super::schema::QUOTA_ALERTS;
use super::{Store, StoreError};

/// Where an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertState {
    /// Decided and recorded, not yet delivered (or its delivery is not confirmed).
    Pending,
    /// Delivered: never sent again.
    Sent,
}

impl AlertState {
    fn byte(self) -> u8 {
        match self {
            AlertState::Pending => 1,
            AlertState::Sent => 2,
        }
    }

    fn from_byte(byte: u8) -> Option<AlertState> {
        match byte {
            1 => Some(AlertState::Pending),
            2 => Some(AlertState::Sent),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Sent => "sent",
        }
    }
}

/// One alert's record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertRecord {
    /// The UTC second at which its billing cycle starts.
    pub cycle_start: i64,
    /// Which alert of the cycle (the quota engine's code).
    pub alert: u32,
    pub state: AlertState,
    /// Unix second of the last change of state.
    pub changed_at: i64,
    /// The message as the engine will hand it over again after a restart (opaque here).
    pub message: Vec<u8>,
}

const HEAD: usize = 1 + 8;

impl AlertRecord {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEAD + self.message.len());
        out.push(self.state.byte());
        out.extend_from_slice(&self.changed_at.to_le_bytes());
        out.extend_from_slice(&self.message);
        out
    }

    fn decode(cycle_start: i64, alert: u32, data: &[u8]) -> Option<AlertRecord> {
        let state = AlertState::from_byte(*data.first()?)?;
        let changed_at = i64::from_le_bytes(data.get(1..HEAD)?.try_into().ok()?);
        Some(AlertRecord {
            cycle_start,
            alert,
            state,
            changed_at,
            message: data[HEAD..].to_vec(),
        })
    }
}

fn damaged() -> StoreError {
    StoreError::Io {
        why: "a stored alert record is damaged".into(),
    }
}

impl Store {
    /// The alert records of the cycle starting at `cycle_start`, or of every cycle (`None`), in
    /// key order.
    ///
    /// # Errors
    /// When the file cannot be read or a record is damaged.
    pub fn alerts(&self, cycle_start: Option<i64>) -> Result<Vec<AlertRecord>, StoreError> {
        let (txn, _) = self.shared().begin_read()?;
        let table = match txn.open_table(QUOTA_ALERTS) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(error) => return Err(StoreError::io(error)),
        };
        let range = match cycle_start {
            Some(start) => table.range((start, 0)..=(start, u32::MAX)),
            None => table.range::<(i64, u32)>(..),
        }
        .map_err(StoreError::io)?;
        let mut records = Vec::new();
        for entry in range {
            let (key, value) = entry.map_err(StoreError::io)?;
            let (start, alert) = key.value();
            records.push(AlertRecord::decode(start, alert, value.value()).ok_or_else(damaged)?);
        }
        Ok(records)
    }

    /// Record each of `records` whose key has no record yet, in one durable commit; returns
    /// those written (a key already recorded keeps its record: an alert fires once).
    ///
    /// # Errors
    /// When the commit fails (then nothing was recorded).
    pub fn record_alerts(&self, records: &[AlertRecord]) -> Result<Vec<AlertRecord>, StoreError> {
        let mut written = Vec::new();
        self.write_alerts(|table| {
            for record in records {
                let key = (record.cycle_start, record.alert);
                if table.get(key).map_err(StoreError::io)?.is_none() {
                    table
                        .insert(key, record.encode().as_slice())
                        .map_err(StoreError::io)?;
                    written.push(record.clone());
                }
            }
            Ok(())
        })?;
        Ok(written)
    }

    /// Set the state of the alert `(cycle_start, alert)` in one durable commit; `false` when it
    /// has no record.
    ///
    /// # Errors
    /// When the commit fails (then nothing changed).
    pub fn set_alert_state(
        &self,
        cycle_start: i64,
        alert: u32,
        state: AlertState,
        at: i64,
    ) -> Result<bool, StoreError> {
        let mut found = false;
        self.write_alerts(|table| {
            let key = (cycle_start, alert);
            let record = match table.get(key).map_err(StoreError::io)? {
                Some(value) => AlertRecord::decode(cycle_start, alert, value.value()),
                None => return Ok(()),
            };
            let mut record = record.ok_or_else(damaged)?;
            record.state = state;
            record.changed_at = at;
            table
                .insert(key, record.encode().as_slice())
                .map_err(StoreError::io)?;
            found = true;
            Ok(())
        })?;
        Ok(found)
    }

    fn write_alerts(
        &self,
        change: impl FnOnce(&mut redb::Table<'_, (i64, u32), &'static [u8]>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut txn = self.begin_write()?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| StoreError::Io { why: e.to_string() })?;
        txn.set_quick_repair(true);
        {
            let mut table = txn.open_table(QUOTA_ALERTS).map_err(StoreError::io)?;
            change(&mut table)?;
        }
        txn.commit().map_err(StoreError::io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Zone;

    fn record(cycle_start: i64, alert: u32, message: &str) -> AlertRecord {
        AlertRecord {
            cycle_start,
            alert,
            state: AlertState::Pending,
            changed_at: 1_700_000_000,
            message: message.as_bytes().to_vec(),
        }
    }

    #[test]
    fn alerts_are_recorded_once_and_survive_reopening() {
        let dir = std::env::temp_dir().join(format!("nts-alerts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("traffic.redb");
        {
            let store = Store::open(&path, Zone::utc(), 10).expect("open");
            assert_eq!(
                store.alerts(None).expect("read"),
                Vec::new(),
                "no table yet"
            );
            let written = store
                .record_alerts(&[
                    record(-5, 80, "a"),
                    record(100, 0, "b"),
                    record(100, 80, "c"),
                ])
                .expect("record");
            assert_eq!(written.len(), 3);
            // A second decision for the same key keeps the first record.
            let again = store
                .record_alerts(&[record(100, 80, "other"), record(100, 90, "d")])
                .expect("record");
            assert_eq!(again, vec![record(100, 90, "d")]);
            assert!(
                store
                    .set_alert_state(100, 80, AlertState::Sent, 1_700_000_100)
                    .expect("set")
            );
            assert!(
                !store
                    .set_alert_state(7, 7, AlertState::Sent, 0)
                    .expect("set")
            );
            store.close();
        }
        let store = Store::open(&path, Zone::utc(), 10).expect("reopen");
        let of_100 = store.alerts(Some(100)).expect("read");
        assert_eq!(
            of_100
                .iter()
                .map(|r| (r.alert, r.state, r.message.as_slice()))
                .collect::<Vec<_>>(),
            [
                (0, AlertState::Pending, &b"b"[..]),
                (80, AlertState::Sent, &b"c"[..]),
                (90, AlertState::Pending, &b"d"[..]),
            ]
        );
        assert_eq!(of_100[1].changed_at, 1_700_000_100);
        let all = store.alerts(None).expect("read");
        assert_eq!(all.len(), 4);
        assert_eq!(all[0].cycle_start, -5, "keys in numeric order");
        store.close();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
