//! Group commit across a shard's logs: the fdatasyncs that several logs ask
//! for at about the same time run as one job on the shard's sync helper
//! thread.
//!
//! Why: an fdatasync issued through io_uring is handed to an io-wq worker,
//! and its completion wakes the reactor. A Java producer puts every
//! partition of a broker in one request, so with 16 partitions on a shard,
//! one acks=all request cost ~12 fdatasyncs, each a hand-off and a
//! wake-up. On the 2-vCPU VM the syncs were more than half of the broker's
//! CPU per GB (perf/RESULTS.md). A batch costs one hand-off and one
//! wake-up, whatever its size.
//!
//! How a batch syncs ([`BatchSync`], `log.flush.syncfs.enable`):
//! - `Syncfs` (the default): one `syncfs` per filesystem in the batch. It
//!   commits the journal and flushes the device once for every file on that
//!   filesystem, where N fdatasyncs would flush the device N times. It is
//!   used only on kernels that report every syncfs error (5.17 and later:
//!   writeback errors since 5.8, the filesystem's own sync errors since
//!   5.17); on older kernels the batch falls back to `Fdatasync`. A failed
//!   syncfs fails every log whose file is on that filesystem.
//! - `Fdatasync`: each file gets its own fdatasync, in turn, and its own
//!   result.
//!
//! A log has at most one sync in flight (`sync_lock`), so the queue holds at
//! most one entry per log of the shard. A batch takes at most
//! [`SYNC_BATCH_FILES_MAX`] of them. One batch runs at a time: syncs asked
//! for during a batch go in the next one, as a log's appends during its sync
//! go in its next sync. A batch of one file is synced through io_uring, as
//! without batching; when nothing runs or waits, on the asking log's own
//! task, with no hand-off to the batch task.

use super::io::SegmentFile;
use super::notify::WakeSignal;
use crate::local::helper_pool::{run_job, HelperError, Helpers};
use crate::local::oneshot;
use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;

/// Most files one batch syncs; the rest wait for the next batch.
pub const SYNC_BATCH_FILES_MAX: usize = 256;
/// The first kernel whose syncfs reports every error (major, minor).
pub const SYNCFS_ERRORS_KERNEL_MIN: (u32, u32) = (5, 17);

/// How a batch of two or more files is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSync {
    /// One syncfs per filesystem.
    Syncfs,
    /// One fdatasync per file.
    Fdatasync,
}

impl BatchSync {
    /// `Syncfs` when wanted and the running kernel reports syncfs errors.
    pub fn choose(syncfs_wanted: bool) -> BatchSync {
        if !syncfs_wanted {
            return BatchSync::Fdatasync;
        }
        match kernel_version() {
            Some(version) if version >= SYNCFS_ERRORS_KERNEL_MIN => BatchSync::Syncfs,
            found => {
                log::warn!(
                    "log.flush.syncfs.enable: kernel {found:?} may not report syncfs errors \
                     (needs {SYNCFS_ERRORS_KERNEL_MIN:?}); batched syncs use fdatasync per file"
                );
                BatchSync::Fdatasync
            }
        }
    }
}

/// The shard's fdatasyncs waiting for a batch.
pub(crate) struct SyncBatcher {
    method: BatchSync,
    queued: RefCell<Vec<Queued>>,
    /// A sync runs (a batch, or a lone sync on its log's task): new ones
    /// queue for the next batch.
    busy: Cell<bool>,
    /// The batch task was spawned (on first use; it lives as long as the
    /// shard's executor).
    task_started: Cell<bool>,
    /// Wakes the batch task: syncs are queued and none runs.
    queued_signal: WakeSignal,
}

struct Queued {
    /// Keeps the descriptor open until its sync is over.
    file: Rc<SegmentFile>,
    done: oneshot::Sender<io::Result<()>>,
}

/// A lone sync running on its log's task. Dropping it (the sync ended, or
/// its future was dropped) hands what queued meanwhile to the batch task.
struct LoneSync<'a>(&'a SyncBatcher);

impl Drop for LoneSync<'_> {
    fn drop(&mut self) {
        self.0.busy.set(false);
        if !self.0.queued.borrow().is_empty() {
            self.0.queued_signal.notify();
        }
    }
}

impl SyncBatcher {
    /// A batcher whose batches sync with `method`.
    pub(crate) fn new(method: BatchSync) -> Self {
        SyncBatcher {
            method,
            queued: RefCell::default(),
            busy: Cell::new(false),
            task_started: Cell::new(false),
            queued_signal: WakeSignal::default(),
        }
    }

    /// fdatasyncs `file`, or syncs its filesystem, in the shard's next batch.
    pub(crate) async fn sync(self: &Rc<Self>, file: &Rc<SegmentFile>) -> io::Result<()> {
        if !file.is_direct() {
            // Fault-injected files (tests) keep their own sync path.
            return file.fdatasync().await;
        }
        if !self.task_started.replace(true) {
            glommio::spawn_local(self.clone().run_batches()).detach();
        }
        if !self.busy.get() && self.queued.borrow().is_empty() {
            // Nothing runs or waits: a batch of one, on the caller's own
            // task (one partition syncs as without batching).
            self.busy.set(true);
            let _lone = LoneSync(self);
            return file.fdatasync().await;
        }
        let (done, answer) = oneshot::channel();
        self.queued.borrow_mut().push(Queued {
            file: file.clone(),
            done,
        });
        if !self.busy.get() {
            self.queued_signal.notify();
        }
        answer
            .await
            .unwrap_or_else(|| Err(io::Error::other("sync batch abandoned")))
    }

    /// The batch task: runs the queued syncs whenever none runs.
    async fn run_batches(self: Rc<Self>) {
        loop {
            self.queued_signal.wait().await;
            while !self.busy.get() {
                let batch = self.take_batch();
                if batch.is_empty() {
                    break;
                }
                self.busy.set(true);
                let results = sync_batch(&batch, self.method).await;
                self.busy.set(false);
                for (queued, result) in batch.into_iter().zip(results) {
                    queued.done.send(result);
                }
            }
        }
    }

    fn take_batch(&self) -> Vec<Queued> {
        let mut queued = self.queued.borrow_mut();
        let take = queued.len().min(SYNC_BATCH_FILES_MAX);
        queued.drain(..take).collect()
    }
}

/// One result per file of `batch`, in order.
async fn sync_batch(batch: &[Queued], method: BatchSync) -> Vec<io::Result<()>> {
    if let [only] = batch {
        return vec![only.file.fdatasync().await];
    }
    let fds: Vec<RawFd> = batch.iter().map(|queued| queued.file.raw_fd()).collect();
    let count = fds.len();
    let synced = run_job(Helpers::Sync, move || sync_files(&fds, method)).await;
    crate::metrics::with_local(|m| {
        m.sync_batches.inc();
        m.sync_batch_files.add(count as u64);
    });
    match synced {
        Ok((results, syncfs_calls)) => {
            crate::metrics::with_local(|m| m.syncfs_calls.add(syncfs_calls));
            results
        }
        Err(HelperError::Unavailable) => (0..count)
            .map(|_| Err(io::Error::other("sync helper thread unavailable")))
            .collect(),
    }
}

/// Makes each descriptor's written data durable with `method` (on a helper
/// thread): one result per descriptor, in order, and the syncfs calls made.
pub(crate) fn sync_files(fds: &[RawFd], method: BatchSync) -> (Vec<io::Result<()>>, u64) {
    match method {
        BatchSync::Fdatasync => (fds.iter().map(|&fd| fdatasync(fd)).collect(), 0),
        BatchSync::Syncfs => syncfs_each_filesystem(fds),
    }
}

fn syncfs_each_filesystem(fds: &[RawFd]) -> (Vec<io::Result<()>>, u64) {
    // (device, result of its syncfs): a batch spans few filesystems.
    let mut synced: Vec<(libc::dev_t, io::Result<()>)> = Vec::new();
    let results = fds
        .iter()
        .map(|&fd| {
            let device = device_of(fd)?;
            if let Some((_, result)) = synced.iter().find(|(d, _)| *d == device) {
                return copy_result(result);
            }
            let result = syncfs(fd);
            synced.push((device, copy_result(&result)));
            result
        })
        .collect();
    (results, synced.len() as u64)
}

fn fdatasync(fd: RawFd) -> io::Result<()> {
    // SAFETY: a descriptor the batch keeps open; no memory is passed.
    match unsafe { libc::fdatasync(fd) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

fn syncfs(fd: RawFd) -> io::Result<()> {
    // SAFETY: as for fdatasync.
    match unsafe { libc::syncfs(fd) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// The device (filesystem) `fd` lives on.
fn device_of(fd: RawFd) -> io::Result<libc::dev_t> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes a whole `stat` into the buffer it is given.
    match unsafe { libc::fstat(fd, stat.as_mut_ptr()) } {
        // SAFETY: fstat succeeded, so the buffer is initialized.
        0 => Ok(unsafe { stat.assume_init() }.st_dev),
        _ => Err(io::Error::last_os_error()),
    }
}

fn copy_result(result: &io::Result<()>) -> io::Result<()> {
    match result {
        Ok(()) => Ok(()),
        Err(e) => Err(match e.raw_os_error() {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(e.kind(), e.to_string()),
        }),
    }
}

/// The running kernel's (major, minor), from uname.
fn kernel_version() -> Option<(u32, u32)> {
    let mut name = std::mem::MaybeUninit::<libc::utsname>::uninit();
    // SAFETY: uname fills the struct it is given.
    if unsafe { libc::uname(name.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: uname succeeded; `release` is a NUL-terminated string.
    let name = unsafe { name.assume_init() };
    let release = unsafe { std::ffi::CStr::from_ptr(name.release.as_ptr()) };
    parse_kernel_version(release.to_str().ok()?)
}

/// (major, minor) of a kernel release such as `6.18.44-fc-v1272`.
fn parse_kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests;
