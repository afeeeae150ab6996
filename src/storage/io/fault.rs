//! The fault-injecting file layer, in the spirit of TigerBeetle's and redb's
//! test storage: a scripted [`FaultPlan`] decides, per operation, whether the
//! real file operation happens, fails, lies or tears.
//!
//! Crash model: with a plan that can crash (lying fdatasync or torn write
//! rules), every write records the bytes it overwrites until the next honest
//! fdatasync of its file. [`FaultPlan::crash`] puts those bytes back and
//! shrinks each file to its last synced size, and removes every directory
//! created since its parent's last fsync: what a power loss leaves when the
//! device dropped everything it had not really made durable. After a
//! crash every operation on a faulty file fails, as the process is "dead".
//! This layer allocates per operation; it is never on a production path.

use super::OpenMode;
use glommio::io::{DmaBuffer, DmaFile};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// `ENOSPC`.
const ENOSPC: i32 = 28;
/// `EIO`.
const EIO: i32 = 5;

/// One scripted fault. `nth` counts the operations of that kind on files
/// matching the rule, from 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The nth write fails with EIO and writes nothing.
    FailWrite {
        /// Which write.
        nth: u64,
    },
    /// The nth write fails with ENOSPC and writes nothing (the other writes
    /// of its round may have landed).
    NoSpaceWrite {
        /// Which write.
        nth: u64,
    },
    /// The nth fdatasync fails with EIO.
    FailSync {
        /// Which fdatasync.
        nth: u64,
    },
    /// From the nth fdatasync on, fdatasync returns success without syncing.
    LyingSync {
        /// First lying fdatasync.
        from_nth: u64,
    },
    /// The nth write stores only its first `bytes` bytes and says so.
    ShortWrite {
        /// Which write.
        nth: u64,
        /// Bytes stored.
        bytes: usize,
    },
    /// The nth write stores only its first `bytes` bytes, then the machine
    /// crashes (see [`FaultPlan::crash`]); the write returns EIO.
    TornWriteThenCrash {
        /// Which write.
        nth: u64,
        /// Bytes of the write that reach the disk.
        bytes: usize,
    },
    /// From the nth write on, each write waits `ms` before it happens (a
    /// slow or hung device; the shard's reactor keeps running).
    SlowWrite {
        /// First slow write.
        from_nth: u64,
        /// Added latency of each.
        ms: u64,
    },
    /// From the nth fdatasync on, each waits `ms` before it happens.
    SlowSync {
        /// First slow fdatasync.
        from_nth: u64,
        /// Added latency of each.
        ms: u64,
    },
    /// Every zero-ahead write ([`FaultyFile::write_zeros`]) waits `ms`
    /// before it happens. Zero writes are not counted by the other rules.
    SlowZeroWrite {
        /// Added latency of each.
        ms: u64,
    },
}

impl Fault {
    fn can_crash(&self) -> bool {
        matches!(
            self,
            Fault::LyingSync { .. } | Fault::TornWriteThenCrash { .. }
        )
    }
}

/// A fault for the files whose path contains `file_contains` (empty: all).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRule {
    /// Substring of the path of the files concerned.
    pub file_contains: String,
    /// What happens.
    pub fault: Fault,
}

/// What a matching rule decided for one operation.
enum Verdict {
    Proceed,
    Fail,
    NoSpace,
    Lie,
    Short(usize),
    Tear(usize),
    /// Proceed after this many milliseconds.
    Delay(u64),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Operation {
    Write,
    Sync,
}

/// What the plan knows of one file for the crash model.
#[derive(Default)]
struct FileState {
    size: u64,
    durable_size: u64,
    /// (position, overwritten bytes) since the last honest fdatasync.
    undo: Vec<(u64, Vec<u8>)>,
}

/// A script of faults shared by the faulty files of one thread.
#[derive(Default)]
pub struct FaultPlan {
    rules: Vec<FaultRule>,
    matched: RefCell<Vec<u64>>,
    /// Bytes files may still grow by; `None`: unlimited.
    space_left_bytes: Cell<Option<u64>>,
    crashed: Cell<bool>,
    files: RefCell<HashMap<PathBuf, FileState>>,
    /// Directories created since their parent's last fsync.
    unsynced_dirs: RefCell<Vec<PathBuf>>,
    /// Files (written and fdatasynced, then renamed into place) whose
    /// directory entry awaits its parent's fsync.
    unsynced_files: RefCell<Vec<PathBuf>>,
    injected: Cell<u64>,
}

impl fmt::Debug for FaultPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultPlan")
            .field("rules", &self.rules)
            .field("space_left_bytes", &self.space_left_bytes.get())
            .field("crashed", &self.crashed.get())
            .finish()
    }
}

impl FaultPlan {
    /// A plan applying `rules`, with unlimited space.
    pub fn new(rules: Vec<FaultRule>) -> Self {
        let matched = RefCell::new(vec![0; rules.len()]);
        FaultPlan {
            rules,
            matched,
            ..FaultPlan::default()
        }
    }

    /// Files may grow by `bytes` more in total, then get ENOSPC.
    pub fn with_space_bytes(self, bytes: u64) -> Self {
        self.space_left_bytes.set(Some(bytes));
        self
    }

    /// Sets the space left (`None`: unlimited, "space was freed").
    pub fn set_space_left(&self, bytes: Option<u64>) {
        self.space_left_bytes.set(bytes);
    }

    /// Faults injected so far (failed, lying, short or torn operations and
    /// ENOSPC answers).
    pub fn injected_count(&self) -> u64 {
        self.injected.get()
    }

    /// True once the simulated machine crashed.
    pub fn is_crashed(&self) -> bool {
        self.crashed.get()
    }

    fn tracks_crash(&self) -> bool {
        self.rules.iter().any(|rule| rule.fault.can_crash())
    }

    pub(super) fn check_alive(&self) -> io::Result<()> {
        match self.crashed.get() {
            true => Err(io::Error::other("simulated crash")),
            false => Ok(()),
        }
    }

    /// A directory was created: its entry is not durable until its parent
    /// is synced.
    pub(super) fn created_dir(&self, path: &Path) {
        self.unsynced_dirs.borrow_mut().push(path.to_path_buf());
    }

    /// A file was renamed into place: its entry is not durable until its
    /// parent is synced.
    pub(super) fn renamed_file(&self, path: &Path) {
        self.unsynced_files.borrow_mut().push(path.to_path_buf());
    }

    /// A directory was synced: the entries created in it are durable.
    pub(super) fn synced_dir(&self, dir: &Path) {
        self.unsynced_dirs
            .borrow_mut()
            .retain(|created| created.parent() != Some(dir));
        self.unsynced_files
            .borrow_mut()
            .retain(|renamed| renamed.parent() != Some(dir));
    }

    pub(super) fn forget(&self, path: &Path) {
        self.files.borrow_mut().remove(path);
    }

    fn injected_error(&self, code: i32) -> io::Error {
        self.injected.set(self.injected.get() + 1);
        io::Error::from_raw_os_error(code)
    }

    /// Counts the operation against every matching rule; the first rule
    /// that fires decides.
    fn verdict(&self, path: &Path, operation: Operation) -> Verdict {
        let path = path.to_string_lossy();
        let mut matched = self.matched.borrow_mut();
        let mut verdict = Verdict::Proceed;
        for (rule, count) in self.rules.iter().zip(matched.iter_mut()) {
            if !path.contains(rule.file_contains.as_str()) {
                continue;
            }
            let rule_operation = match rule.fault {
                Fault::FailSync { .. } | Fault::LyingSync { .. } | Fault::SlowSync { .. } => {
                    Operation::Sync
                }
                _ => Operation::Write,
            };
            if rule_operation != operation {
                continue;
            }
            *count += 1;
            let fired = match rule.fault {
                Fault::FailWrite { nth } | Fault::FailSync { nth } if *count == nth => {
                    Verdict::Fail
                }
                Fault::NoSpaceWrite { nth } if *count == nth => Verdict::NoSpace,
                Fault::LyingSync { from_nth } if *count >= from_nth => Verdict::Lie,
                Fault::ShortWrite { nth, bytes } if *count == nth => Verdict::Short(bytes),
                Fault::TornWriteThenCrash { nth, bytes } if *count == nth => Verdict::Tear(bytes),
                Fault::SlowWrite { from_nth, ms } | Fault::SlowSync { from_nth, ms }
                    if *count >= from_nth =>
                {
                    Verdict::Delay(ms)
                }
                _ => Verdict::Proceed,
            };
            if matches!(verdict, Verdict::Proceed) {
                verdict = fired;
            }
        }
        verdict
    }

    /// The added latency of a zero-ahead write, if a rule slows them.
    fn zero_write_delay_ms(&self, path: &Path) -> Option<u64> {
        let path = path.to_string_lossy();
        self.rules.iter().find_map(|rule| match rule.fault {
            Fault::SlowZeroWrite { ms } if path.contains(rule.file_contains.as_str()) => Some(ms),
            _ => None,
        })
    }

    /// Charges the growth of `path` to `new_end` against the space left.
    fn grow(&self, path: &Path, new_end: u64) -> io::Result<()> {
        let mut files = self.files.borrow_mut();
        let state = files.entry(path.to_path_buf()).or_default();
        let growth = new_end.saturating_sub(state.size);
        if let Some(left) = self.space_left_bytes.get() {
            if growth > left {
                drop(files);
                return Err(self.injected_error(ENOSPC));
            }
            self.space_left_bytes.set(Some(left - growth));
        }
        state.size = state.size.max(new_end);
        Ok(())
    }

    fn set_size(&self, path: &Path, size: u64) {
        self.files
            .borrow_mut()
            .entry(path.to_path_buf())
            .or_default()
            .size = size;
    }

    fn record_undo(&self, path: &Path, position: u64, old: Vec<u8>) {
        let mut files = self.files.borrow_mut();
        let state = files.entry(path.to_path_buf()).or_default();
        state.undo.push((position, old));
    }

    fn mark_durable(&self, path: &Path) {
        let mut files = self.files.borrow_mut();
        let state = files.entry(path.to_path_buf()).or_default();
        state.durable_size = state.size;
        state.undo.clear();
    }

    /// Simulates a power loss now: every byte written since its file's last
    /// honest fdatasync is put back to what it was, each file is cut to its
    /// last synced size, directories whose creation was never made durable
    /// disappear with their content, so do files renamed into a directory
    /// not fsynced since, and every later operation fails.
    pub fn crash(&self) -> io::Result<()> {
        self.crashed.set(true);
        for file in std::mem::take(&mut *self.unsynced_files.borrow_mut()) {
            match std::fs::remove_file(&file) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
                _ => {}
            }
        }
        for dir in std::mem::take(&mut *self.unsynced_dirs.borrow_mut()) {
            match std::fs::remove_dir_all(&dir) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
                _ => {}
            }
        }
        let files = std::mem::take(&mut *self.files.borrow_mut());
        for (path, state) in files {
            let file = match std::fs::OpenOptions::new().write(true).open(&path) {
                Ok(file) => file,
                Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                Err(error) => return Err(error),
            };
            for (position, old) in state.undo.iter().rev() {
                file.write_all_at(old, *position)?;
            }
            file.set_len(state.durable_size)?;
            file.sync_all()?;
        }
        Ok(())
    }
}

/// Waits out a [`Verdict::Delay`] (then the operation proceeds).
async fn delayed(verdict: Verdict) -> Verdict {
    if let Verdict::Delay(ms) = verdict {
        glommio::timer::sleep(std::time::Duration::from_millis(ms)).await;
    }
    verdict
}

/// A real O_DIRECT file whose operations go through a [`FaultPlan`].
pub struct FaultyFile {
    inner: DmaFile,
    /// Buffered handle for pre-images, short and torn writes.
    plain: File,
    path: PathBuf,
    plan: Rc<FaultPlan>,
}

impl fmt::Debug for FaultyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyFile")
            .field("path", &self.path)
            .finish()
    }
}

impl FaultyFile {
    pub(super) async fn new(
        inner: DmaFile,
        path: &Path,
        mode: OpenMode,
        plan: Rc<FaultPlan>,
    ) -> io::Result<Self> {
        let plain = std::fs::OpenOptions::new()
            .read(true)
            .write(mode != OpenMode::Read)
            .open(path)?;
        let size = plain.metadata()?.len();
        {
            let mut files = plan.files.borrow_mut();
            let state = files.entry(path.to_path_buf()).or_default();
            state.size = size;
            if mode == OpenMode::Create {
                // A new file is not durable until a sync says so.
                state.durable_size = 0;
                state.undo.clear();
            } else if state.undo.is_empty() {
                state.durable_size = size;
            }
        }
        Ok(FaultyFile {
            inner,
            plain,
            path: path.to_path_buf(),
            plan,
        })
    }

    pub(super) fn inner(&self) -> &DmaFile {
        &self.inner
    }

    pub(super) fn check_alive(&self) -> io::Result<()> {
        self.plan.check_alive()
    }

    fn save_pre_image(&self, position: u64, len: usize) -> io::Result<()> {
        if !self.plan.tracks_crash() {
            return Ok(());
        }
        let size = self.plain.metadata()?.len();
        let end = (position + len as u64).min(size);
        let mut old = vec![0u8; end.saturating_sub(position) as usize];
        self.plain.read_exact_at(&mut old, position)?;
        self.plan.record_undo(&self.path, position, old);
        Ok(())
    }

    pub(super) async fn write_at(&self, buffer: DmaBuffer, position: u64) -> io::Result<usize> {
        self.check_alive()?;
        let len = buffer.len();
        let verdict = self.plan.verdict(&self.path, Operation::Write);
        let verdict = delayed(verdict).await;
        self.plan.grow(&self.path, position + len as u64)?;
        match verdict {
            Verdict::Fail => Err(self.plan.injected_error(EIO)),
            Verdict::NoSpace => Err(self.plan.injected_error(ENOSPC)),
            Verdict::Short(bytes) => {
                let bytes = bytes.min(len);
                self.save_pre_image(position, bytes)?;
                self.plain
                    .write_all_at(&buffer.as_bytes()[..bytes], position)?;
                self.plan.injected.set(self.plan.injected.get() + 1);
                Ok(bytes)
            }
            Verdict::Tear(bytes) => {
                // The crash reverts unsynced writes; the torn prefix was in
                // flight at that moment and reaches the disk.
                self.plan.crash()?;
                let bytes = bytes.min(len);
                self.plain
                    .write_all_at(&buffer.as_bytes()[..bytes], position)?;
                self.plain.sync_all()?;
                Err(self.plan.injected_error(EIO))
            }
            Verdict::Proceed | Verdict::Lie | Verdict::Delay(_) => {
                self.save_pre_image(position, len)?;
                super::os_error(self.inner.write_at(buffer, position).await)
            }
        }
    }

    /// Zeros over `[position, position + len)`: no rule counts it, a
    /// [`Fault::SlowZeroWrite`] delays it, and the crash model records what
    /// it overwrites like any write.
    pub(super) async fn write_zeros(&self, position: u64, len: usize) -> io::Result<()> {
        self.check_alive()?;
        if let Some(ms) = self.plan.zero_write_delay_ms(&self.path) {
            glommio::timer::sleep(std::time::Duration::from_millis(ms)).await;
            self.check_alive()?;
        }
        self.plan.grow(&self.path, position + len as u64)?;
        self.save_pre_image(position, len)?;
        let mut buffer = self.inner.alloc_dma_buffer(len);
        buffer.as_bytes_mut().fill(0);
        let written = super::os_error(self.inner.write_at(buffer, position).await)?;
        match written == len {
            true => Ok(()),
            false => Err(io::Error::other("short zero write")),
        }
    }

    pub(super) async fn fdatasync(&self) -> io::Result<()> {
        self.check_alive()?;
        match delayed(self.plan.verdict(&self.path, Operation::Sync)).await {
            Verdict::Fail => Err(self.plan.injected_error(EIO)),
            Verdict::Lie => {
                self.plan.injected.set(self.plan.injected.get() + 1);
                Ok(())
            }
            _ => {
                super::os_error(self.inner.fdatasync().await)?;
                self.plan.mark_durable(&self.path);
                Ok(())
            }
        }
    }

    pub(super) async fn pre_allocate(&self, size: u64) -> io::Result<()> {
        self.check_alive()?;
        self.plan.grow(&self.path, size)?;
        super::os_error(self.inner.pre_allocate(size, false).await)
    }

    pub(super) async fn truncate(&self, size: u64) -> io::Result<()> {
        self.check_alive()?;
        if self.plan.tracks_crash() {
            let current = self.plain.metadata()?.len();
            if size < current {
                self.save_pre_image(size, (current - size) as usize)?;
            }
        }
        super::os_error(self.inner.truncate(size).await)?;
        self.plan.set_size(&self.path, size);
        Ok(())
    }

    pub(super) async fn close(self) -> io::Result<()> {
        super::os_error(self.inner.close().await)
    }
}
