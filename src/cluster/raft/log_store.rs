//! openraft's log storage for the metadata log: entries kept in memory from
//! the last purge (the log is purged after each snapshot, so this stays
//! small) and on disk in [`log_file`](super::log_file), written by one
//! helper thread in submission order. An append or a vote is acknowledged
//! only after its fdatasync; after a failed write the store refuses writes.

use super::log_file::{encode_frame, Entry, HardState, LogFiles, LogId, Vote};
use super::MetadataRaftTypes;
use crate::local::helper_pool::HelperPool;
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::{LogState, OptionalSend, RaftLogReader};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::path::Path;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

type C = MetadataRaftTypes;

/// The metadata log's directory under a log dir, as Kafka names it.
pub const METADATA_LOG_DIR_NAME: &str = "__cluster_metadata-0";
/// Most entries one read returns (openraft's `max_payload_entries` bounds
/// replication reads below this already).
pub const READ_ENTRIES_MAX: usize = 4096;
/// Log writes queued for the helper beyond the one running.
const LOG_WRITES_QUEUED_MAX: usize = 64;

thread_local! {
    /// One helper thread: the log's writes run in the order submitted.
    static LOG_IO: Rc<HelperPool> = Rc::new(HelperPool::new("raft-log", 1, LOG_WRITES_QUEUED_MAX));
}

/// Runs a blocking file job on the log's helper thread.
async fn on_log_thread<R: Send + 'static>(
    job: impl FnOnce() -> io::Result<R> + Send + 'static,
) -> io::Result<R> {
    let pool = LOG_IO.with(|pool| pool.clone());
    pool.run(job).await.map_err(io::Error::other)?
}

struct Inner {
    files: Arc<Mutex<LogFiles>>,
    entries: BTreeMap<u64, Entry>,
    /// Where each entry's frame starts in the file.
    frame_starts: BTreeMap<u64, u64>,
    log_len: u64,
    hard: HardState,
    committed: Option<LogId>,
    /// Set by a failed write: the on-disk state is unknown, writes refused.
    failed: Option<String>,
}

/// The metadata log: openraft's log storage and its reader (clones share it).
#[derive(Clone)]
pub struct MetadataLogStore(Rc<RefCell<Inner>>);

/// True when the log still holds the entry a recovered committed hint names
/// (or purged it into a snapshot). A follower saves the commit point it
/// learns from the leader while the entries it accepted in the same round
/// may still be on their way to disk; killed in between, it would restart
/// with a hint past its log, and openraft fails its start-up reading entries
/// that are not there (found by the Jepsen harness: "Failed to get log
/// entries, expected index: [0, 3), got [Some(0), Some(1))"). Such a hint is
/// dropped, as a lost one is: the quorum tells the node the commit point.
fn committed_hint_holds(
    hint: &LogId,
    entries: &BTreeMap<u64, Entry>,
    purged_index: Option<u64>,
) -> bool {
    if purged_index.is_some_and(|purged| hint.index() <= purged) {
        return true;
    }
    entries
        .get(&hint.index())
        .is_some_and(|entry| entry.log_id() == *hint)
}

fn locked(files: &Mutex<LogFiles>) -> io::Result<std::sync::MutexGuard<'_, LogFiles>> {
    files
        .lock()
        .map_err(|_| io::Error::other("metadata log file lock poisoned"))
}

impl MetadataLogStore {
    /// Opens the log in `dir` (created when absent), recovering what it holds.
    pub async fn open(dir: &Path) -> io::Result<Self> {
        let owned = dir.to_path_buf();
        let (files, recovered) = on_log_thread(move || LogFiles::open(&owned)).await?;
        let purged_index = recovered.hard.last_purged.as_ref().map(|id| id.index());
        let mut entries = BTreeMap::new();
        let mut frame_starts = BTreeMap::new();
        for (at, entry) in recovered.entries {
            let index = entry.index();
            frame_starts.insert(index, at);
            // Entries at or below the purge point linger until the next rewrite.
            if purged_index.is_none_or(|purged| index > purged) {
                entries.insert(index, entry);
            }
        }
        let committed = recovered
            .committed
            .filter(|hint| committed_hint_holds(hint, &entries, purged_index));
        Ok(MetadataLogStore(Rc::new(RefCell::new(Inner {
            files: Arc::new(Mutex::new(files)),
            entries,
            frame_starts,
            log_len: recovered.log_len,
            hard: recovered.hard,
            committed,
            failed: None,
        }))))
    }

    /// Index of the last entry held (purged ones excluded).
    pub fn last_index(&self) -> Option<u64> {
        self.0.borrow().entries.keys().next_back().copied()
    }

    fn writable(&self) -> io::Result<Arc<Mutex<LogFiles>>> {
        let inner = self.0.borrow();
        match &inner.failed {
            Some(why) => Err(io::Error::other(format!(
                "metadata log refuses writes after a failed write: {why}"
            ))),
            None => Ok(inner.files.clone()),
        }
    }

    /// Runs a write job; a failure fences the store.
    async fn write(
        &self,
        job: impl FnOnce(&mut LogFiles) -> io::Result<()> + Send + 'static,
    ) -> io::Result<()> {
        let files = self.writable()?;
        let result = on_log_thread(move || job(&mut *locked(&files)?)).await;
        if let Err(e) = &result {
            self.0.borrow_mut().failed = Some(e.to_string());
        }
        result
    }
}

impl RaftLogReader<C> for MetadataLogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let inner = self.0.borrow();
        Ok(inner
            .entries
            .range(range)
            .take(READ_ENTRIES_MAX)
            .map(|(_, entry)| entry.clone())
            .collect())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(self.0.borrow().hard.vote)
    }
}

impl RaftLogStorage<C> for MetadataLogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<C>, io::Error> {
        let inner = self.0.borrow();
        let last_purged = inner.hard.last_purged;
        let last = inner
            .entries
            .values()
            .next_back()
            .map(|entry| entry.log_id())
            .or(last_purged);
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let hard = {
            let mut inner = self.0.borrow_mut();
            inner.hard.vote = Some(*vote);
            inner.hard.clone()
        };
        self.write(move |files| files.save_hard_state(&hard)).await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        self.0.borrow_mut().committed = committed;
        self.write(move |files| files.save_committed(&committed))
            .await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(self.0.borrow().committed)
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<C>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.writable()?;
        let (frames, at) = {
            let mut inner = self.0.borrow_mut();
            let at = inner.log_len;
            let mut frames = Vec::new();
            for entry in entries {
                let index = entry.index();
                inner.frame_starts.insert(index, at + frames.len() as u64);
                encode_frame(&entry, &mut frames)?;
                inner.entries.insert(index, entry);
            }
            inner.log_len = at + frames.len() as u64;
            (frames, at)
        };
        let result = self.write(move |files| files.append(&frames, at)).await;
        callback.io_completed(
            result
                .as_ref()
                .map(|_| ())
                .map_err(|e| io::Error::new(e.kind(), e.to_string())),
        );
        result
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = last_log_id.map_or(0, |id| id.index() + 1);
        let cut_at = {
            let mut inner = self.0.borrow_mut();
            inner.entries.split_off(&from);
            let Some(&cut_at) = inner.frame_starts.range(from..).next().map(|(_, at)| at) else {
                return Ok(());
            };
            inner.frame_starts.split_off(&from);
            inner.log_len = cut_at;
            cut_at
        };
        self.write(move |files| files.truncate(cut_at)).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        let (hard, frames) = {
            let mut inner = self.0.borrow_mut();
            if inner.hard.last_purged.as_ref() >= Some(&log_id) {
                return Ok(());
            }
            inner.hard.last_purged = Some(log_id);
            let kept = inner.entries.split_off(&(log_id.index() + 1));
            inner.entries = kept;
            let mut frames = Vec::new();
            let mut frame_starts = BTreeMap::new();
            for (index, entry) in &inner.entries {
                frame_starts.insert(*index, frames.len() as u64);
                encode_frame(entry, &mut frames)?;
            }
            inner.frame_starts = frame_starts;
            inner.log_len = frames.len() as u64;
            (inner.hard.clone(), frames)
        };
        // The purge point first: a crash before the rewrite leaves purged
        // entries in the file, which open() skips.
        self.write(move |files| {
            files.save_hard_state(&hard)?;
            files.replace(&frames)
        })
        .await
    }
}
