//! Frees the blocks of deleted segment files away from the shards.
//!
//! Unlinking a file that is still open frees nothing: its blocks go when
//! its last descriptor closes, and that close does the filesystem's work
//! (measured on this machine's ext4: 16 ms for a 64 MiB file, 55 ms for
//! 256 MiB, so some 200 ms for a 1 GiB segment). A segment's own O_DIRECT
//! descriptor and its read handle close on the shard's thread when the
//! segment is dropped, right after retention, a truncation or a topic
//! deletion removed its files: the shard stalled for that long.
//!
//! So a segment file is removed on a blocking thread that first opens it
//! and keeps that descriptor; the reaper thread closes it
//! [`DELETED_FILE_CLOSE_DELAY_MS`] later, once the shard's descriptors are
//! gone (answers in flight hold theirs on the send helpers, which close
//! them there too). The reaper's close is then the last one, and the
//! blocks are freed on its thread. The queue is bounded; past it a
//! descriptor is closed at once, on the blocking thread that removed it.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long the reaper holds a deleted file's descriptor before closing
/// it: far longer than a shard takes to drop the segment whose files it
/// just removed.
pub const DELETED_FILE_CLOSE_DELAY_MS: u64 = 1_000;
/// Deleted files the reaper holds at most (each holds its blocks until
/// closed); past that, a file is closed where it was removed.
pub const REAPER_QUEUE_MAX: usize = 4_096;

/// A deleted file's descriptor and when to close it.
type Due = (Instant, File);

/// The reaper's queue (`None`: its thread could not start).
static REAPER: OnceLock<Option<SyncSender<Due>>> = OnceLock::new();

/// Removes the file at `path`, keeping an open descriptor of it for the
/// reaper to close later. Blocking: call on a blocking thread.
pub fn unlink_and_reap(path: &Path) -> io::Result<()> {
    let held = File::open(path);
    std::fs::remove_file(path)?;
    if let Ok(file) = held {
        reap_later(file);
    }
    Ok(())
}

/// Removes the directory `dir` and everything in it, the segment files'
/// blocks freed by the reaper. Blocking: call on a blocking thread.
pub fn remove_dir_and_reap(dir: &Path) -> io::Result<()> {
    let held: Vec<File> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension().is_some_and(|e| e == "log"))
        .filter_map(|entry| File::open(entry.path()).ok())
        .collect();
    std::fs::remove_dir_all(dir)?;
    held.into_iter().for_each(reap_later);
    Ok(())
}

/// Hands `file` to the reaper (or closes it here when it cannot take it).
fn reap_later(file: File) {
    let Some(queue) = REAPER.get_or_init(start_reaper) else {
        return;
    };
    let due = Instant::now() + Duration::from_millis(DELETED_FILE_CLOSE_DELAY_MS);
    match queue.try_send((due, file)) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
            log::debug!("deleted-file reaper full: a file's blocks are freed where it was removed");
        }
    }
}

/// Starts the reaper thread: it closes each file once it is due, in order.
fn start_reaper() -> Option<SyncSender<Due>> {
    let (sender, receiver) = sync_channel::<Due>(REAPER_QUEUE_MAX);
    let started = std::thread::Builder::new()
        .name("millrace-reaper".into())
        .spawn(move || {
            for (due, file) in receiver {
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                drop(file);
            }
        });
    match started {
        Ok(_) => Some(sender),
        Err(error) => {
            log::warn!("deleted-file reaper not started ({error}): blocks are freed on removal");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_removed_file_is_gone_at_once_and_its_blocks_are_freed_after_the_delay() {
        let dir = std::env::temp_dir().join(format!("millrace-reaper-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("00000000000000000000.log");
        std::fs::write(&path, vec![7u8; 4 << 20]).unwrap();
        let inode = std::fs::metadata(&path).unwrap().ino();
        unlink_and_reap(&path).unwrap();
        assert!(!path.exists(), "the name goes at once");
        // The reaper holds it open: its inode is still in /proc/self/fd.
        let held = || {
            std::fs::read_dir("/proc/self/fd")
                .unwrap()
                .filter_map(Result::ok)
                .filter_map(|fd| std::fs::metadata(fd.path()).ok())
                .any(|meta| meta.ino() == inode && meta.nlink() == 0)
        };
        assert!(held(), "held for the reaper");
        let deadline = Instant::now() + Duration::from_millis(DELETED_FILE_CLOSE_DELAY_MS * 10);
        while held() {
            assert!(Instant::now() < deadline, "never closed");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(matches!(
            unlink_and_reap(&path).map_err(|e| e.kind()),
            Err(io::ErrorKind::NotFound)
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
