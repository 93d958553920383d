//! Crash safety and write faults, against real redb files.
//!
//! Crash loop: a child process (this test binary run again, see [`crash_child`]) runs the real
//! persister on a real file as fast as it can commit, its memory growing by 1000 bytes before
//! every commit, and notes each commit's number in a side file just before starting it. The parent
//! kills it with SIGKILL at a random moment, reopens the file and checks: it opens; the stored
//! total never exceeds the truth (what memory held at the last commit started); and nothing older
//! than the commit in flight is lost. The next child starts from what is stored, as a restarted
//! monitor does. 100 rounds in a few seconds.
//!
//! Faults: the file on a small tmpfs (root only). A full disk makes commits fail with the reason
//! in the message; once space returns, the next commit (after reopening the file, which redb
//! requires after an I/O error) stores everything counted meanwhile, once. A read-only file
//! system is named when the history is opened.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::civil::Date;
use nettraffic_sentinel::clock::Zone;
use nettraffic_sentinel::count::UpDown;
use nettraffic_sentinel::count::live::LiveSnapshot;
use nettraffic_sentinel::persister::Persister;
use nettraffic_sentinel::store::{Granularity, LiveView, Scope, Store};

use crate::support::TempDir;
use crate::support::disk::Tmpfs;

/// 2024-06-15 10:00 UTC: the hour every round counts into.
const HOUR: i64 = 1_718_445_600;
const STEP: u64 = 1000;
const CHILD_ENV: &str = "NTS_CRASH_CHILD_DB";

fn view(up: u64) -> LiveView {
    let mut snapshot = LiveSnapshot::default();
    snapshot.hours.insert(HOUR, UpDown { up, down: 0 });
    LiveView {
        interfaces: vec![("eth0".into(), snapshot)],
    }
}

fn stored(path: &Path) -> u64 {
    let store = Store::open(path, Zone::utc(), 10).expect("the file always opens");
    let day = Date::constant(2024, 6, 15);
    let all = store
        .read_stored()
        .expect("read")
        .series(&Scope::All, day, day, Granularity::Day)
        .expect("series")[0]
        .bytes
        .up;
    let eth0 = store
        .read_stored()
        .expect("read")
        .totals(&Scope::Interface("eth0".into()), day, day)
        .expect("totals")
        .up;
    assert_eq!(all, eth0, "both scopes come from the same commit");
    all
}

/// The child's side: commit forever. Does nothing unless run by [`kill_9_at_random_moments`].
fn crash_child() {
    let Ok(db) = std::env::var(CHILD_ENV) else {
        return;
    };
    let db = PathBuf::from(db);
    let progress = db.with_extension("progress");
    let store = Arc::new(Store::open(&db, Zone::utc(), 10).expect("child opens"));
    let mut persister = Persister::new(Arc::clone(&store));
    for k in 1u64.. {
        // Written (to the page cache, which SIGKILL does not lose) before commit k starts, after
        // commit k-1 returned.
        // Renamed into place: a kill between truncating and writing must not read as "0".
        let next = db.with_extension("progress-next");
        std::fs::write(&next, k.to_string()).expect("progress");
        std::fs::rename(&next, &progress).expect("progress");
        persister
            .commit_at(&view(k * STEP), HOUR + 60, 86_400)
            .expect("commit");
    }
}

fn kill_9_at_random_moments() {
    const ROUNDS: usize = 100;
    let dir = TempDir::new("store-crash");
    let db = dir.path().join("t.redb");
    let progress = db.with_extension("progress");
    let started = Instant::now();
    let mut before = 0u64;
    let mut seed = u64::from(std::process::id()) | 1;
    let mut killed_mid_run = 0;
    for round in 0..ROUNDS {
        let _ = std::fs::remove_file(&progress);
        let mut child = crate::support::harness::child_command("store_crash::crash_child")
            .env(CHILD_ENV, &db)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the child");
        // xorshift: a random moment between 5 and 300 ms after start.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(5 + seed % 295));
        if child.try_wait().expect("poll").is_none() {
            killed_mid_run += 1;
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let last_started: u64 = std::fs::read_to_string(&progress)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        let now = stored(&db);
        let truth = before + last_started * STEP;
        assert!(
            now <= truth,
            "round {round}: stored {now} exceeds the truth {truth}"
        );
        let floor = before + last_started.saturating_sub(1) * STEP;
        assert!(
            now >= floor,
            "round {round}: stored {now} lost more than the commit in flight (at least {floor})"
        );
        before = now;
    }
    eprintln!(
        "{ROUNDS} rounds ({killed_mid_run} killed while running) in {:?}; {before} bytes stored",
        started.elapsed()
    );
    assert!(
        killed_mid_run >= ROUNDS / 2,
        "the kills must hit running children"
    );
    assert!(before > 0, "commits happened");
}

fn a_full_disk_and_a_read_only_file_system_fail_commits_then_catch_up() {
    let dir = TempDir::new("store-faults");
    let tmpfs = Tmpfs::mount(dir.path(), "4m");
    let db = tmpfs.path().join("t.redb");
    let store = Arc::new(Store::open(&db, Zone::utc(), 10).expect("open"));
    let mut persister = Persister::new(Arc::clone(&store));
    persister
        .commit_at(&view(100), HOUR + 60, 86_400)
        .expect("a first commit");

    // Disk full: the commit fails naming the reason; memory keeps counting.
    let filler = tmpfs.fill();
    let mut failures = 0;
    for k in 2..6u64 {
        match persister.commit_at(&view(k * 100), HOUR + 60, 86_400) {
            Ok(_) => {}
            Err(error) => {
                failures += 1;
                let message = error.to_string();
                assert!(
                    message.contains("No space left on device"),
                    "names the reason: {message}"
                );
            }
        }
    }
    assert!(failures > 0, "a full tmpfs must make commits fail");
    // Space returns: the next commit stores all 600 bytes, once.
    std::fs::remove_file(&filler).expect("free the space");
    persister
        .commit_at(&view(600), HOUR + 60, 86_400)
        .expect("catches up");
    drop(persister);
    drop(store);
    assert_eq!(stored(&db), 600);

    // Read-only at start: the history cannot be opened for writing, and the reason is named. (A
    // file system that goes read-only under the running monitor: tests/store_live.rs, on ext4.)
    tmpfs.remount("ro");
    let error = Store::open(&db, Zone::utc(), 10).expect_err("read-only");
    assert!(
        error.to_string().contains("Read-only file system"),
        "names the reason: {error}"
    );
    tmpfs.remount("rw");
    assert_eq!(stored(&db), 600, "and the file is as it was");
}

tests! {
    #[child]
    crash_child,
    kill_9_at_random_moments,
    #[needs(Root, Tool("mount"))]
    a_full_disk_and_a_read_only_file_system_fail_commits_then_catch_up,
}
