//! File systems a test can break under a running program (root only): a small tmpfs to fill up,
//! and an ext4 image on a loop device that the kernel remounts read-only after an error, as it
//! does with a failing disk (`errors=remount-ro`).
//!
//! A tmpfs cannot stand in for the read-only case: Linux refuses to remount a file system
//! read-only (EBUSY) while a file on it is open for writing, and the history file always is.
//! ext4's `trigger_fs_error` (sysfs) raises a real file-system error instead: the kernel switches
//! the file system to read-only at once, and every write and `fsync` on it fails with EROFS, also
//! on files already open. As on a real NAS, only unmounting, `e2fsck` and mounting again make it
//! writable again.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::netns::run_ok;

const TIMEOUT: Duration = Duration::from_secs(30);

fn mount_command(args: &[&str], point: &Path) {
    run_ok(Command::new("mount").args(args).arg(point), TIMEOUT);
}

/// A tmpfs of `size` mounted on `dir/tmpfs`; unmounted on drop.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    pub fn mount(dir: &Path, size: &str) -> Tmpfs {
        let point = dir.join("tmpfs");
        std::fs::create_dir_all(&point).expect("mount point");
        mount_command(
            &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"],
            &point,
        );
        Tmpfs(point)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `mount -o remount,MODE` (fails while a file on it is open for writing and MODE is `ro`).
    pub fn remount(&self, mode: &str) {
        mount_command(&["-o", &format!("remount,{mode}")], &self.0);
    }

    /// Fill it until a write fails; returns the filler's path (delete it to free the space).
    pub fn fill(&self) -> PathBuf {
        let filler = self.0.join("filler");
        let chunk = vec![0xa5u8; 64 * 1024];
        let mut file = std::fs::File::create(&filler).expect("filler");
        while file.write_all(&chunk).is_ok() {}
        // The last partial chunk may have fit a few pages short of full: top it up byte-wise.
        while file.write_all(&chunk[..4096]).is_ok() {}
        let _ = file.sync_all();
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// An ext4 file system in an image file, mounted with `errors=remount-ro` on
/// `dir/shared/ext4`.
///
/// `dir/shared` is a shared bind mount: a program started with `ip netns exec` runs in a copy of
/// the mount table whose mounts are slaves of ours, so it sees the file system unmounted and
/// mounted again only because the mount point's parent propagates those events.
pub struct Ext4 {
    image: PathBuf,
    shared: PathBuf,
    point: PathBuf,
    mounted: bool,
}

impl Ext4 {
    /// Make a `megabytes` MiB ext4 image in `dir` and mount it through a loop device.
    pub fn mount(dir: &Path, megabytes: u64) -> Ext4 {
        let image = dir.join("ext4.img");
        let file = std::fs::File::create(&image).expect("image file");
        file.set_len(megabytes << 20).expect("image size");
        drop(file);
        run_ok(
            Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image),
            TIMEOUT,
        );
        let shared = dir.join("shared");
        std::fs::create_dir_all(&shared).expect("shared mount point");
        mount_command(&["--bind", &shared.to_string_lossy()], &shared);
        mount_command(&["--make-shared"], &shared);
        let point = shared.join("ext4");
        std::fs::create_dir_all(&point).expect("mount point");
        let mut ext4 = Ext4 {
            image,
            shared,
            point,
            mounted: false,
        };
        ext4.attach();
        ext4
    }

    fn attach(&mut self) {
        // `-o loop` sets up the loop device and frees it again at unmount (autoclear).
        run_ok(
            Command::new("mount")
                .args(["-t", "ext4", "-o", "loop,errors=remount-ro"])
                .arg(&self.image)
                .arg(&self.point),
            TIMEOUT,
        );
        self.mounted = true;
    }

    pub fn path(&self) -> &Path {
        &self.point
    }

    /// The block device it is mounted from, e.g. `loop3`.
    fn device(&self) -> String {
        let mounts = std::fs::read_to_string("/proc/mounts").expect("/proc/mounts");
        let point = self.point.to_string_lossy();
        mounts
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                Some((fields.next()?, fields.next()?))
            })
            .rfind(|(_, at)| *at == point)
            .and_then(|(device, _)| device.strip_prefix("/dev/"))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("{point} is not mounted"))
    }

    /// A file-system error, as a failing disk causes: the kernel makes it read-only at once.
    pub fn fail(&self) {
        let knob = format!("/sys/fs/ext4/{}/trigger_fs_error", self.device());
        std::fs::write(&knob, "test: simulated disk error")
            .unwrap_or_else(|error| panic!("write {knob}: {error}"));
    }

    /// What the owner does about it: unmount (waiting until nothing has a file open on it),
    /// check and repair the file system, and mount it again.
    pub fn repair(&mut self) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let output = Command::new("umount")
                .arg(&self.point)
                .output()
                .expect("run umount");
            if output.status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "cannot unmount {}: {}",
                self.point.display(),
                String::from_utf8_lossy(&output.stderr)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        self.mounted = false;
        // Exit code 1 means "errors corrected", which is the point here.
        let status = Command::new("e2fsck")
            .args(["-f", "-y"])
            .arg(&self.image)
            .output()
            .expect("run e2fsck")
            .status;
        assert!(
            matches!(status.code(), Some(0 | 1)),
            "e2fsck could not repair the image: {status}"
        );
        self.attach();
    }
}

impl Drop for Ext4 {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.point).status();
        }
        let _ = Command::new("umount").arg(&self.shared).status();
    }
}
