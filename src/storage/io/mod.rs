//! The narrow file interface through which the storage engine reaches the
//! disk: aligned writes, reads, fdatasync, preallocation, truncation, size,
//! open/create and remove, and directories (created durably, synced). [`SegmentFile`] is an enum (static dispatch, no
//! boxed futures): `Direct` is the real O_DIRECT file; `Faulty` wraps it and
//! injects the faults of a [`FaultPlan`] (failed or lying fdatasync, failed,
//! short or torn writes, ENOSPC, simulated crash) for tests.
//!
//! The plan is per thread (one shard = one thread): [`install_fault_plan`]
//! makes every file the storage opens on this thread afterwards a faulty
//! one. Without a plan nothing changes on the data path but one `match`.

mod fault;
mod plan_text;
pub mod reaper;

pub use fault::{Fault, FaultPlan, FaultRule, FaultyFile};
pub use plan_text::{parse_fault_plan, FAULT_INJECTION_ENV};

use glommio::io::{DmaBuffer, DmaFile, OpenOptions, ReadResult};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Size of the one buffer of zeros each thread keeps for zero-ahead writes
/// ([`SegmentFile::write_zeros`]): a longer range is written in pieces.
pub const ZERO_BUFFER_BYTES: usize = 1 << 20;

thread_local! {
    static FAULT_PLAN: RefCell<Option<Rc<FaultPlan>>> = const { RefCell::new(None) };
    /// Zeros shared by every zero-ahead write of the thread (never written to).
    static ZEROS: RefCell<Option<Rc<DmaBuffer>>> = const { RefCell::new(None) };
}

/// Makes files opened on this thread from now on inject `plan`'s faults
/// (`None`: real files again). Test-only in spirit: the broker installs a
/// plan only when `storage.fault.plan` is set and fault injection is
/// explicitly allowed (see [`FAULT_INJECTION_ENV`]).
pub fn install_fault_plan(plan: Option<Rc<FaultPlan>>) {
    FAULT_PLAN.with(|current| *current.borrow_mut() = plan);
}

/// Installs the plan of the test-only `storage.fault.plan` key (already
/// validated, and allowed by [`FAULT_INJECTION_ENV`], when the config
/// loaded) on this shard's thread. Empty: nothing.
pub fn install_configured_plan(text: &str, shard_id: usize) -> Result<(), String> {
    if text.is_empty() {
        return Ok(());
    }
    let plan = parse_fault_plan(text)?;
    log::warn!("shard {shard_id}: TEST ONLY: injecting storage faults: {text}");
    install_fault_plan(Some(Rc::new(plan)));
    Ok(())
}

fn installed_plan() -> Option<Rc<FaultPlan>> {
    FAULT_PLAN.with(|current| current.borrow().clone())
}

/// How a file is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// An existing file, read-only.
    Read,
    /// An existing file, read and write.
    ReadWrite,
    /// Created, or emptied if it exists; read and write.
    Create,
}

/// Converts glommio's error type into the OS error it carries.
fn os_error<T>(result: glommio::Result<T, ()>) -> io::Result<T> {
    result.map_err(io::Error::from)
}

/// Descriptors the storage engine's files ([`SegmentFile`]) hold now, all
/// shards together: every segment, active or sealed, and index files while
/// they are written. Changed only when a file opens or closes (rolls,
/// loads, deletions), never per record.
static OPEN_STORAGE_FILES: AtomicU64 = AtomicU64::new(0);

/// Descriptors the storage engine's files hold now ([`OPEN_STORAGE_FILES`]):
/// what the open-file budget checks new partitions against.
pub fn open_storage_files() -> u64 {
    OPEN_STORAGE_FILES.load(Ordering::Relaxed)
}

/// Partition logs open now, all shards together: each holds one active
/// segment among [`OPEN_STORAGE_FILES`].
static OPEN_LOGS: AtomicU64 = AtomicU64::new(0);

/// Descriptors held beyond each open log's active segment: sealed segments
/// (and, for a moment, an index file being written or a segment being
/// created): what sealed segments add to the open-file budget now.
pub fn sealed_segment_files() -> u64 {
    // Logs first: a log counted after its files errs high, never low.
    let logs = OPEN_LOGS.load(Ordering::Relaxed);
    open_storage_files().saturating_sub(logs)
}

/// One open partition log counted in [`OPEN_LOGS`] while it lives.
#[derive(Debug)]
pub struct CountedLog;

impl CountedLog {
    /// Counts one more open log until dropped.
    pub fn new() -> Self {
        OPEN_LOGS.fetch_add(1, Ordering::Relaxed);
        CountedLog
    }
}

impl Default for CountedLog {
    fn default() -> Self {
        CountedLog::new()
    }
}

impl Drop for CountedLog {
    fn drop(&mut self) {
        OPEN_LOGS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One descriptor counted in [`OPEN_STORAGE_FILES`] while it lives.
#[derive(Debug)]
struct CountedDescriptor;

impl CountedDescriptor {
    fn new() -> Self {
        OPEN_STORAGE_FILES.fetch_add(1, Ordering::Relaxed);
        CountedDescriptor
    }
}

impl Drop for CountedDescriptor {
    fn drop(&mut self) {
        OPEN_STORAGE_FILES.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A file of the storage engine (segment data, index files).
#[derive(Debug)]
pub struct SegmentFile {
    file: FileKind,
    _counted: CountedDescriptor,
}

#[derive(Debug)]
enum FileKind {
    /// The real O_DIRECT file.
    Direct(DmaFile),
    /// The real file behind a fault-injecting layer (tests).
    Faulty(FaultyFile),
}

impl SegmentFile {
    /// Opens `path` with O_DIRECT; faulty when a plan is installed.
    pub async fn open(path: &Path, mode: OpenMode) -> io::Result<SegmentFile> {
        let mut options = OpenOptions::new();
        match mode {
            OpenMode::Read => options.read(true),
            OpenMode::ReadWrite => options.read(true).write(true),
            OpenMode::Create => options.read(true).write(true).create(true).truncate(true),
        };
        let file = match installed_plan() {
            None => FileKind::Direct(os_error(options.dma_open(path).await)?),
            Some(plan) => {
                plan.check_alive()?;
                let file = os_error(options.dma_open(path).await)?;
                FileKind::Faulty(FaultyFile::new(file, path, mode, plan).await?)
            }
        };
        Ok(SegmentFile {
            file,
            _counted: CountedDescriptor::new(),
        })
    }

    fn dma(&self) -> &DmaFile {
        match &self.file {
            FileKind::Direct(file) => file,
            FileKind::Faulty(file) => file.inner(),
        }
    }

    /// True for the real file, false behind the fault-injecting layer.
    pub fn is_direct(&self) -> bool {
        matches!(self.file, FileKind::Direct(_))
    }

    /// The O_DIRECT descriptor (to open another handle on the same file
    /// through /proc, even after it was unlinked).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(self.dma())
    }

    /// An aligned buffer for [`SegmentFile::write_at`].
    pub fn alloc_dma_buffer(&self, len: usize) -> DmaBuffer {
        self.dma().alloc_dma_buffer(len)
    }

    /// Writes `buffer` at `position` (both aligned); returns bytes written.
    pub async fn write_at(&self, buffer: DmaBuffer, position: u64) -> io::Result<usize> {
        match &self.file {
            FileKind::Direct(file) => os_error(file.write_at(buffer, position).await),
            FileKind::Faulty(file) => file.write_at(buffer, position).await,
        }
    }

    /// Writes zeros over `[position, position + len)` (both aligned, below
    /// the file's size), in pieces of at most [`ZERO_BUFFER_BYTES`] from one
    /// buffer of zeros the thread shares. What it is for: `zero_ahead.rs`.
    pub async fn write_zeros(&self, position: u64, len: u64) -> io::Result<()> {
        let mut at = position;
        let end = position + len;
        while at < end {
            let piece = (end - at).min(ZERO_BUFFER_BYTES as u64) as usize;
            match &self.file {
                FileKind::Direct(file) => {
                    let written = os_error(file.write_rc_at(zeros(file, piece), at).await)?;
                    if written != piece {
                        return Err(io::Error::other("short zero write"));
                    }
                }
                FileKind::Faulty(file) => file.write_zeros(at, piece).await?,
            }
            at += piece as u64;
        }
        Ok(())
    }

    /// Reads up to `len` bytes at `position` (any alignment).
    pub async fn read_at(&self, position: u64, len: usize) -> io::Result<ReadResult> {
        if let FileKind::Faulty(file) = &self.file {
            file.check_alive()?;
        }
        os_error(self.dma().read_at(position, len).await)
    }

    /// fdatasync.
    pub async fn fdatasync(&self) -> io::Result<()> {
        match &self.file {
            FileKind::Direct(file) => os_error(file.fdatasync().await),
            FileKind::Faulty(file) => file.fdatasync().await,
        }
    }

    /// Extends the file with zeros (size set) up to `size` bytes.
    pub async fn pre_allocate(&self, size: u64) -> io::Result<()> {
        match &self.file {
            FileKind::Direct(file) => os_error(file.pre_allocate(size, false).await),
            FileKind::Faulty(file) => file.pre_allocate(size).await,
        }
    }

    /// Sets the file size to `size`.
    pub async fn truncate(&self, size: u64) -> io::Result<()> {
        match &self.file {
            FileKind::Direct(file) => os_error(file.truncate(size).await),
            FileKind::Faulty(file) => file.truncate(size).await,
        }
    }

    /// Size of the file.
    pub async fn file_size(&self) -> io::Result<u64> {
        if let FileKind::Faulty(file) = &self.file {
            file.check_alive()?;
        }
        os_error(self.dma().file_size().await)
    }

    /// Closes the file.
    pub async fn close(self) -> io::Result<()> {
        match self.file {
            FileKind::Direct(file) => os_error(file.close().await),
            FileKind::Faulty(file) => file.close().await,
        }
    }
}

/// `len` bytes of zeros: the thread's shared buffer when it is that size,
/// else a new one (the last piece of a range).
fn zeros(file: &DmaFile, len: usize) -> Rc<DmaBuffer> {
    if len != ZERO_BUFFER_BYTES {
        let mut buffer = file.alloc_dma_buffer(len);
        buffer.as_bytes_mut().fill(0);
        return Rc::new(buffer);
    }
    ZEROS.with(|shared| {
        shared
            .borrow_mut()
            .get_or_insert_with(|| {
                let mut buffer = file.alloc_dma_buffer(ZERO_BUFFER_BYTES);
                buffer.as_bytes_mut().fill(0);
                Rc::new(buffer)
            })
            .clone()
    })
}

/// Creates `dir` and any missing ancestors, fsyncing the parent of each
/// directory it creates: without that, a crash can lose the new directory
/// entry and with it every file written inside (a new partition's data, the
/// offsets store). An existing directory is left alone (no fsync).
pub async fn create_dir_durably(dir: &Path) -> io::Result<()> {
    create_dirs_durably(&[dir.to_path_buf()]).await
}

/// [`create_dir_durably`] for many directories at once: every missing one
/// is created first, then each parent that got a new entry is fsynced once
/// (a thousand new partition directories under the data directory cost one
/// fsync of it, not a thousand).
pub async fn create_dirs_durably(dirs: &[PathBuf]) -> io::Result<()> {
    let mut parents = BTreeSet::new();
    for dir in dirs {
        create_missing(dir, &mut parents).await?;
    }
    for parent in &parents {
        sync_dir(parent).await?;
    }
    Ok(())
}

/// Creates `dir` and its missing ancestors, adding the parent of each
/// created directory to `parents` (to be fsynced).
async fn create_missing(dir: &Path, parents: &mut BTreeSet<PathBuf>) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut current = Some(dir);
    while let Some(path) = current {
        if path.as_os_str().is_empty() || dir_exists(path).await? {
            break;
        }
        missing.push(path);
        current = path.parent();
    }
    for path in missing.into_iter().rev() {
        let directory = os_error(glommio::io::Directory::create(path).await)?;
        let _ = directory.close().await; // only created, never written
        if let Some(plan) = installed_plan() {
            plan.created_dir(path);
        }
        match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => {
                parents.insert(parent.to_path_buf());
            }
            _ => {}
        }
    }
    Ok(())
}

async fn dir_exists(path: &Path) -> io::Result<bool> {
    match glommio::io::Directory::open(path).await {
        Ok(directory) => {
            let _ = directory.close().await;
            Ok(true)
        }
        Err(error) => {
            let error = io::Error::from(error);
            match error.kind() {
                io::ErrorKind::NotFound => Ok(false),
                _ => Err(error),
            }
        }
    }
}

/// fsync of a directory, so entries created, renamed or removed in it
/// survive a crash (through the plan when one is installed).
pub async fn sync_dir(dir: &Path) -> io::Result<()> {
    if let Some(plan) = installed_plan() {
        plan.check_alive()?;
        plan.synced_dir(dir);
    }
    let directory = os_error(glommio::io::Directory::open(dir).await)?;
    let result = os_error(directory.sync().await);
    let _ = directory.close().await; // a directory fd holds no data
    result
}

/// Renames the file `from` to `to` (same directory; `to` replaced): the
/// new entry is durable once the directory is synced ([`sync_dir`]); the
/// plan, when one is installed, drops it at a crash until then.
pub async fn rename_file(from: &Path, to: &Path) -> io::Result<()> {
    if let Some(plan) = installed_plan() {
        plan.check_alive()?;
        plan.renamed_file(to);
    }
    os_error(glommio::io::rename(from, to).await)
}

/// Removes the file at `path` (through the plan when one is installed).
pub async fn remove_file(path: &Path) -> io::Result<()> {
    if let Some(plan) = installed_plan() {
        plan.check_alive()?;
        plan.forget(path);
    }
    os_error(glommio::io::remove(path).await)
}

/// Removes a segment file at `path` (through the plan when one is
/// installed) on a blocking thread, its blocks freed later by the reaper
/// ([`reaper`]) rather than by the shard's last close.
pub async fn remove_segment_file(path: &Path) -> io::Result<()> {
    if let Some(plan) = installed_plan() {
        plan.check_alive()?;
        plan.forget(path);
    }
    let owned = path.to_path_buf();
    glommio::executor()
        .spawn_blocking(move || reaper::unlink_and_reap(&owned))
        .await
}
