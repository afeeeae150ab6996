//! The exclusive lock on a data directory, as Kafka's `.lock` in each log dir.
//!
//! Two brokers on one `log.dirs` would append to the same segments and rewrite
//! the same checkpoints; with SO_REUSEPORT the second one's listener even binds
//! beside the first, so nothing else would stop it. The lock is an `flock` on
//! `<log.dirs>/.lock`, held for the life of the process: the kernel releases it
//! when the process ends, however it ends, so a restart after kill -9 is never
//! refused by a stale lock.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// The lock file's name in the data directory: Kafka's name.
pub const DATA_DIR_LOCK_FILE_NAME: &str = ".lock";

/// A held lock on a data directory; dropping it releases the lock.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Takes the exclusive lock on `data_dir`, without waiting: a directory in use
/// by another process is an error naming it.
pub fn lock_data_dir(data_dir: &Path) -> Result<DataDirLock, String> {
    let path = data_dir.join(DATA_DIR_LOCK_FILE_NAME);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| {
            format!(
                "log.dirs {}: cannot open {}: {e}",
                data_dir.display(),
                path.display()
            )
        })?;
    // SAFETY: flock on a descriptor this function owns; no memory is passed.
    let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if taken == 0 {
        return Ok(DataDirLock { _file: file });
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        return Err(format!(
            "log.dirs {}: failed to acquire the lock on {}: another millrace (or Kafka) process \
             is using this data directory; stop it, or give this broker its own log.dirs",
            data_dir.display(),
            path.display()
        ));
    }
    Err(format!(
        "log.dirs {}: cannot lock {}: {err}",
        data_dir.display(),
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_a_locked_dir_is_refused_and_released_on_drop() {
        let dir = std::env::temp_dir().join(format!("millrace-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let held = lock_data_dir(&dir).expect("first lock");
        let refused = lock_data_dir(&dir).expect_err("second lock must be refused");
        assert!(
            refused.contains(".lock") && refused.contains("another"),
            "{refused}"
        );
        drop(held);
        lock_data_dir(&dir).expect("free again once the holder is gone");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
