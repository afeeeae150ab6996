//! openraft's storage conformance suite (`openraft::testing::log::Suite`)
//! against the metadata log's real storage: [`MetadataLogStore`] and
//! [`MetadataStateMachine`] with millrace's own [`MetadataRaftTypes`], each
//! case on a fresh directory, run on a glommio executor as the runtime
//! suite is (runtime.rs).
//!
//! No case is skipped and no test-only type config is needed: the suite
//! builds only blank and membership entries (it never constructs a `C::D`,
//! see its `apply_single`), so `D = EncodedBatch` and `R = ApplyOutcome`
//! serve as they are. `Suite::test_all` runs every case of the pinned
//! version, so an upgrade brings its new cases along; about 8 s of each run
//! is the suite's own fixed sleeps (it waits 1 s after each purge in case a
//! store purges in the background).
//!
//! The suite keeps one store open per case, so it checks the in-memory
//! view. A node restarts from disk, so the suite runs a second time on
//! stores reopened from their directory after each durable write
//! ([`ReopenedLogStore`], [`ReopenedStateMachine`]): every read the suite
//! checks after a write is served by what recovery found. The state
//! machine is reopened only after a snapshot is built or installed, not
//! after `apply`: applied entries are durable only through snapshots (a
//! restart replays the committed log after the last one).

use super::log_file::{Entry, LogId, Vote};
use super::log_store::MetadataLogStore;
use super::runtime::GlommioRuntime;
use super::state_machine::{MetadataStateMachine, Snapshot};
use super::MetadataRaftTypes;
use futures_util::Stream;
use openraft::storage::{EntryResponder, IOFlushed, RaftLogStorage, RaftStateMachine};
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::type_config::alias::{SnapshotMetaOf, StoredMembershipOf};
use openraft::{
    AsyncRuntime, ErrorSubject, ErrorVerb, LogState, OptionalSend, RaftLogReader,
    RaftSnapshotBuilder, StorageError,
};
use std::cell::RefCell;
use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::rc::Rc;

type C = MetadataRaftTypes;

/// Removes a case's directory when the suite drops the case's stores.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fresh_dir() -> TempDir {
    TempDir(std::env::temp_dir().join(format!("millrace-raft-suite-{}", uuid::Uuid::new_v4())))
}

fn open_failed(e: io::Error) -> StorageError<C> {
    StorageError::from_io_error(ErrorSubject::Store, ErrorVerb::Read, e)
}

/// Opens a log store and a state machine on a new directory per case, as a
/// node opens both on its `__cluster_metadata-0` directory.
struct FreshDirBuilder;

impl StoreBuilder<C, MetadataLogStore, MetadataStateMachine, TempDir> for FreshDirBuilder {
    async fn build(
        &self,
    ) -> Result<(TempDir, MetadataLogStore, MetadataStateMachine), StorageError<C>> {
        let dir = fresh_dir();
        let store = MetadataLogStore::open(&dir.0).await.map_err(open_failed)?;
        let sm = MetadataStateMachine::open(&dir.0)
            .await
            .map_err(open_failed)?;
        Ok((dir, store, sm))
    }
}

/// The metadata log as a restart finds it: after each write the store is
/// dropped and opened again from its directory. Clones (the log readers the
/// suite takes) share the reopened store, as readers of one store do.
#[derive(Clone)]
struct ReopenedLogStore {
    dir: Rc<Path>,
    store: Rc<RefCell<MetadataLogStore>>,
}

impl ReopenedLogStore {
    fn current(&self) -> MetadataLogStore {
        self.store.borrow().clone()
    }

    /// Replaces the open store by what its directory recovers; a write that
    /// failed is returned as it is, without reopening.
    async fn reopen_after(&self, written: io::Result<()>) -> io::Result<()> {
        written?;
        let recovered = MetadataLogStore::open(&self.dir).await?;
        *self.store.borrow_mut() = recovered;
        Ok(())
    }
}

impl RaftLogReader<C> for ReopenedLogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        self.current().try_get_log_entries(range).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        self.current().read_vote().await
    }
}

impl RaftLogStorage<C> for ReopenedLogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<C>, io::Error> {
        self.current().get_log_state().await
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let written = self.current().save_vote(vote).await;
        self.reopen_after(written).await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        let written = self.current().save_committed(committed).await;
        self.reopen_after(written).await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        self.current().read_committed().await
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<C>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let written = self.current().append(entries, callback).await;
        self.reopen_after(written).await
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let written = self.current().truncate_after(last_log_id).await;
        self.reopen_after(written).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        let written = self.current().purge(log_id).await;
        self.reopen_after(written).await
    }
}

/// The metadata state machine as a restart finds it after a snapshot: once
/// a snapshot is built or installed, the state machine is dropped and
/// opened again from its directory. Clones (the snapshot builders) share
/// the reopened one.
#[derive(Clone)]
struct ReopenedStateMachine {
    dir: Rc<Path>,
    sm: Rc<RefCell<MetadataStateMachine>>,
}

impl ReopenedStateMachine {
    fn current(&self) -> MetadataStateMachine {
        self.sm.borrow().clone()
    }

    async fn reopen(&self) -> io::Result<()> {
        let recovered = MetadataStateMachine::open(&self.dir).await?;
        *self.sm.borrow_mut() = recovered;
        Ok(())
    }
}

impl RaftSnapshotBuilder<C> for ReopenedStateMachine {
    type SnapshotData = Vec<u8>;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let snapshot = self.current().build_snapshot().await?;
        self.reopen().await?;
        Ok(snapshot)
    }
}

impl RaftStateMachine<C> for ReopenedStateMachine {
    type SnapshotData = Vec<u8>;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembershipOf<C>), io::Error> {
        self.current().applied_state().await
    }

    async fn apply<Strm>(&mut self, entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<C>, io::Error>> + Unpin + OptionalSend,
    {
        self.current().apply(entries).await
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<C>,
        snapshot: Vec<u8>,
    ) -> Result<(), io::Error> {
        self.current().install_snapshot(meta, snapshot).await?;
        self.reopen().await
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        self.current().get_current_snapshot().await
    }
}

/// [`FreshDirBuilder`] with the stores reopened after their durable writes.
struct ReopeningBuilder;

impl StoreBuilder<C, ReopenedLogStore, ReopenedStateMachine, TempDir> for ReopeningBuilder {
    async fn build(
        &self,
    ) -> Result<(TempDir, ReopenedLogStore, ReopenedStateMachine), StorageError<C>> {
        let dir = fresh_dir();
        let store = MetadataLogStore::open(&dir.0).await.map_err(open_failed)?;
        let sm = MetadataStateMachine::open(&dir.0)
            .await
            .map_err(open_failed)?;
        let path: Rc<Path> = Rc::from(dir.0.as_path());
        let store = ReopenedLogStore {
            dir: path.clone(),
            store: Rc::new(RefCell::new(store)),
        };
        let sm = ReopenedStateMachine {
            dir: path,
            sm: Rc::new(RefCell::new(sm)),
        };
        Ok((dir, store, sm))
    }
}

#[test]
fn metadata_storage_passes_openraft_storage_suite() {
    let mut rt = GlommioRuntime::new(1);
    if let Err(e) = rt.block_on(Suite::test_all(FreshDirBuilder)) {
        panic!("openraft storage suite: {e}");
    }
}

#[test]
fn metadata_storage_reopened_after_each_write_passes_openraft_storage_suite() {
    let mut rt = GlommioRuntime::new(1);
    if let Err(e) = rt.block_on(Suite::test_all(ReopeningBuilder)) {
        panic!("openraft storage suite, stores reopened after each write: {e}");
    }
}
