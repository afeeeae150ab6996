//! The clean-shutdown marker: a file in `log.dirs` written as the last step
//! of a clean shutdown and removed at start-up before anything is served, so
//! its presence at start means the previous run stopped cleanly and log
//! recovery can be skipped.
//!
//! In a cluster it also carries the broker epoch the controller let exit
//! (Kafka's clean-shutdown file keeps the broker epoch too,
//! `CleanShutdownFileHandler`, though whether or not its controller allowed
//! the exit): the next process reports it as `previous_broker_epoch` when
//! it registers. With it the controller knows the old registration's
//! process ended cleanly and lets the new one take its id at once, instead
//! of after the old session times out (`broker.session.timeout.ms`), and
//! does not treat the restart as an unclean shutdown. Apache Kafka 4.4's
//! controller refuses the id until the old session times out even after a
//! clean shutdown (DUPLICATE_BROKER_REGISTRATION, measured); millrace's
//! lets in the process naming the epoch (`cluster/controller/brokers.rs`),
//! so only an exit the controller allowed vouches for itself.

use crate::metadata::store;
use std::path::Path;

/// The marker's file name in `log.dirs`.
pub const CLEAN_SHUTDOWN_MARKER: &str = ".millrace_clean_shutdown";
/// First line of the marker.
const CLEAN_LINE: &str = "clean";
/// Prefix of the marker's line naming the broker epoch that exited.
const BROKER_EPOCH_KEY: &str = "broker.epoch=";

/// What the previous run left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreviousShutdown {
    /// It shut down cleanly (the marker was there).
    pub clean: bool,
    /// The broker epoch the controller let exit, or -1 (a single node, an
    /// unclean end, an exit the controller did not allow, or a marker
    /// written before the epoch was kept).
    pub broker_epoch: i64,
}

/// Reads and removes the marker of the previous run.
pub fn take(data_dir: &Path) -> Result<PreviousShutdown, String> {
    let marker = data_dir.join(CLEAN_SHUTDOWN_MARKER);
    if !marker.exists() {
        return Ok(PreviousShutdown {
            clean: false,
            broker_epoch: -1,
        });
    }
    // A marker that cannot be read (damaged, not a file) vouches for
    // nothing: recovery runs, as after a crash, rather than the start
    // failing.
    let read = std::fs::read(&marker);
    if let Err(e) = &read {
        log::warn!("{}: unreadable ({e}): recovery runs", marker.display());
    }
    // Removed before serving: a crash from here on must look unclean.
    remove_marker(data_dir, &marker)?;
    Ok(match read {
        Ok(bytes) => PreviousShutdown {
            clean: true,
            broker_epoch: broker_epoch_of(&String::from_utf8_lossy(&bytes)),
        },
        Err(_) => PreviousShutdown {
            clean: false,
            broker_epoch: -1,
        },
    })
}

fn remove_marker(data_dir: &Path, marker: &Path) -> Result<(), String> {
    let removed = match std::fs::metadata(marker) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(marker),
        _ => std::fs::remove_file(marker),
    };
    removed
        .and_then(|_| std::fs::File::open(data_dir)?.sync_all())
        .map_err(|e| format!("cannot remove {}: {e}", marker.display()))
}

/// Writes the marker, naming `broker_epoch` when the controller let this
/// process's registration of that epoch exit (-1: it did not, or a single
/// node).
pub fn write(data_dir: &Path, broker_epoch: i64) -> Result<(), String> {
    let mut text = format!("{CLEAN_LINE}\n");
    if broker_epoch >= 0 {
        text.push_str(&format!("{BROKER_EPOCH_KEY}{broker_epoch}\n"));
    }
    store::write_atomically(data_dir, CLEAN_SHUTDOWN_MARKER, text.as_bytes())
        .map_err(|e| format!("cannot write the clean-shutdown marker: {e}"))
}

/// The epoch a marker names, or -1: a marker without one (written by a
/// single node, or before epochs were kept) or with one that does not read
/// as a number costs only the wait for the old session, never a wrong
/// claim of a clean exit.
fn broker_epoch_of(text: &str) -> i64 {
    let named = text.lines().find_map(|l| l.strip_prefix(BROKER_EPOCH_KEY));
    match named.map(|v| v.trim().parse::<i64>()) {
        Some(Ok(epoch)) if epoch >= 0 => epoch,
        Some(_) => {
            log::warn!("clean-shutdown marker: unreadable broker epoch ignored: {text:?}");
            -1
        }
        None => -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::tests::TempDir;

    #[test]
    fn the_exited_epoch_is_read_back_once() {
        let dir = TempDir::new("clean-marker-epoch");
        write(dir.path(), 42).unwrap();
        let taken = take(dir.path()).unwrap();
        assert_eq!(
            taken,
            PreviousShutdown {
                clean: true,
                broker_epoch: 42
            }
        );
        assert!(!take(dir.path()).unwrap().clean, "the marker is consumed");
    }

    #[test]
    fn a_marker_without_an_epoch_is_clean_with_epoch_minus_one() {
        let dir = TempDir::new("clean-marker-plain");
        write(dir.path(), -1).unwrap();
        assert_eq!(
            take(dir.path()).unwrap(),
            PreviousShutdown {
                clean: true,
                broker_epoch: -1
            }
        );
        // A marker of an earlier version, and one whose epoch is unreadable.
        for text in [
            "clean\n",
            "clean\nbroker.epoch=x\n",
            "clean\nbroker.epoch=-5\n",
        ] {
            std::fs::write(dir.path().join(CLEAN_SHUTDOWN_MARKER), text).unwrap();
            assert_eq!(take(dir.path()).unwrap().broker_epoch, -1, "{text:?}");
        }
    }

    #[test]
    fn an_unreadable_marker_is_an_unclean_end_and_is_removed() {
        let dir = TempDir::new("clean-marker-dir");
        std::fs::create_dir(dir.path().join(CLEAN_SHUTDOWN_MARKER)).unwrap();
        assert_eq!(
            take(dir.path()).unwrap(),
            PreviousShutdown {
                clean: false,
                broker_epoch: -1
            }
        );
        assert!(!dir.path().join(CLEAN_SHUTDOWN_MARKER).exists());
        // Bytes that are not UTF-8 still read as a clean end without epoch.
        std::fs::write(dir.path().join(CLEAN_SHUTDOWN_MARKER), b"clean\n\xff\n").unwrap();
        assert_eq!(
            take(dir.path()).unwrap(),
            PreviousShutdown {
                clean: true,
                broker_epoch: -1
            }
        );
    }

    #[test]
    fn no_marker_is_an_unclean_end() {
        let dir = TempDir::new("clean-marker-none");
        assert_eq!(
            take(dir.path()).unwrap(),
            PreviousShutdown {
                clean: false,
                broker_epoch: -1
            }
        );
    }
}
