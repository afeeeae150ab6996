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

use super::log_store::MetadataLogStore;
use super::runtime::GlommioRuntime;
use super::state_machine::MetadataStateMachine;
use super::MetadataRaftTypes;
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::{AsyncRuntime, ErrorSubject, ErrorVerb, StorageError};
use std::io;
use std::path::PathBuf;

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

#[test]
fn metadata_storage_passes_openraft_storage_suite() {
    let mut rt = GlommioRuntime::new(1);
    if let Err(e) = rt.block_on(Suite::test_all(FreshDirBuilder)) {
        panic!("openraft storage suite: {e}");
    }
}
