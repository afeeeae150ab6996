//! openraft's state machine for the metadata log: committed entries applied
//! to the [`MetadataImage`]; snapshots are the image's own snapshot format
//! ([`encode_snapshot`]) behind the Raft position they cover, kept in
//! `raft.snapshot` (replaced atomically). A restart loads that snapshot and
//! openraft replays only the log after it.

use super::log_file::LogId;
use super::{ApplyOutcome, MetadataRaftTypes};
use crate::cluster::image::snapshot::{decode_snapshot, encode_snapshot};
use crate::cluster::image::MetadataImage;
use crate::cluster::records::decode_batch;
use crate::storage::atomic_file::write_atomically;
use futures_util::{Stream, TryStreamExt};
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::type_config::alias::{SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder};
use serde::{Deserialize, Serialize};
use std::cell::{Ref, RefCell};
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

type C = MetadataRaftTypes;
type SnapshotMeta = SnapshotMetaOf<C>;
type StoredMembership = StoredMembershipOf<C>;
/// A snapshot as openraft carries it: its meta and its bytes.
pub type Snapshot = SnapshotOf<C, Vec<u8>>;

/// The snapshot file's name in the metadata log directory.
pub const SNAPSHOT_FILE_NAME: &str = "raft.snapshot";
/// Version of the snapshot file's header.
const SNAPSHOT_FILE_FORMAT: u8 = 0;

/// The Raft position a snapshot covers (the image bytes follow it).
#[derive(Serialize, Deserialize)]
struct SnapshotHeader {
    last_log_id: Option<LogId>,
    last_membership: StoredMembership,
}

/// `format u8 | crc32c u32 LE of the rest | header len u32 LE | header |
/// image snapshot`.
fn encode_snapshot_file(meta: &SnapshotMeta, image: &[u8]) -> io::Result<Vec<u8>> {
    let header = postcard::to_allocvec(&SnapshotHeader {
        last_log_id: meta.last_log_id,
        last_membership: meta.last_membership.clone(),
    })
    .map_err(io::Error::other)?;
    let mut body = Vec::with_capacity(4 + header.len() + image.len());
    body.extend_from_slice(&(header.len() as u32).to_le_bytes());
    body.extend_from_slice(&header);
    body.extend_from_slice(image);
    let mut out = vec![SNAPSHOT_FILE_FORMAT];
    out.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

fn invalid(why: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("metadata snapshot: {why}"),
    )
}

fn decode_snapshot_file(bytes: &[u8]) -> io::Result<(SnapshotMeta, Vec<u8>)> {
    let (&format, rest) = bytes.split_first().ok_or_else(|| invalid("empty"))?;
    if format != SNAPSHOT_FILE_FORMAT {
        return Err(invalid(format!("unknown format {format}")));
    }
    let (crc, body) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| invalid("truncated"))?;
    if crc32c::crc32c(body) != u32::from_le_bytes(*crc) {
        return Err(invalid("checksum mismatch"));
    }
    let (len, rest) = body
        .split_first_chunk::<4>()
        .ok_or_else(|| invalid("truncated"))?;
    let len = u32::from_le_bytes(*len) as usize;
    let header = rest.get(..len).ok_or_else(|| invalid("truncated header"))?;
    let header: SnapshotHeader = postcard::from_bytes(header).map_err(invalid)?;
    let meta = SnapshotMeta {
        last_log_id: header.last_log_id,
        last_membership: header.last_membership,
    };
    Ok((meta, rest[len..].to_vec()))
}

struct Inner {
    dir: PathBuf,
    image: MetadataImage,
    last_applied: Option<LogId>,
    membership: StoredMembership,
    /// The last snapshot built or installed: meta and image bytes.
    snapshot: Option<(SnapshotMeta, Vec<u8>)>,
}

/// The metadata state machine (clones share it): the image and its snapshot.
#[derive(Clone)]
pub struct MetadataStateMachine(Rc<RefCell<Inner>>);

impl MetadataStateMachine {
    /// Opens the state machine of `dir`: the image of `raft.snapshot` when
    /// there is one, else the empty image.
    pub async fn open(dir: &Path) -> io::Result<Self> {
        let path = dir.join(SNAPSHOT_FILE_NAME);
        let read = crate::local::helper_pool::run_job(
            crate::local::helper_pool::Helpers::Control,
            move || match std::fs::read(&path) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            },
        )
        .await
        .map_err(io::Error::other)??;
        let mut inner = Inner {
            dir: dir.to_path_buf(),
            image: MetadataImage::new(),
            last_applied: None,
            membership: StoredMembership::default(),
            snapshot: None,
        };
        if let Some(bytes) = read {
            let (meta, image) = decode_snapshot_file(&bytes)?;
            inner.install(&meta, image)?;
        }
        Ok(MetadataStateMachine(Rc::new(RefCell::new(inner))))
    }

    /// The image as applied so far.
    pub fn image(&self) -> Ref<'_, MetadataImage> {
        Ref::map(self.0.borrow(), |inner| &inner.image)
    }

    /// The last log entry applied.
    pub fn last_applied(&self) -> Option<LogId> {
        self.0.borrow().last_applied
    }

    async fn save(&self, meta: &SnapshotMeta, image: &[u8]) -> io::Result<()> {
        let file = encode_snapshot_file(meta, image)?;
        let dir = self.0.borrow().dir.clone();
        crate::local::helper_pool::run_job(crate::local::helper_pool::Helpers::Control, move || {
            write_atomically(&dir, SNAPSHOT_FILE_NAME, &file)
        })
        .await
        .map_err(io::Error::other)?
    }
}

impl Inner {
    fn install(&mut self, meta: &SnapshotMeta, image: Vec<u8>) -> io::Result<()> {
        self.image = decode_snapshot(&image).map_err(invalid)?;
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.snapshot = Some((meta.clone(), image));
        Ok(())
    }

    fn apply_batch(&mut self, bytes: &[u8]) -> ApplyOutcome {
        let base_offset = self.image.offset() + 1;
        let error = match decode_batch(bytes) {
            Ok(mut batch) => {
                // Offsets are positions in the applied log, known only now.
                batch.base_offset = base_offset;
                self.image.apply_batch(&batch).err().map(|e| e.to_string())
            }
            Err(e) => Some(e.to_string()),
        };
        ApplyOutcome {
            base_offset,
            image_offset: self.image.offset(),
            error,
        }
    }
}

impl RaftSnapshotBuilder<C> for MetadataStateMachine {
    type SnapshotData = Vec<u8>;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let (meta, image) = {
            let inner = self.0.borrow();
            let meta = SnapshotMeta {
                last_log_id: inner.last_applied,
                last_membership: inner.membership.clone(),
            };
            (meta, encode_snapshot(&inner.image))
        };
        self.save(&meta, &image).await?;
        self.0.borrow_mut().snapshot = Some((meta.clone(), image.clone()));
        Ok(Snapshot {
            meta,
            snapshot: image,
        })
    }
}

impl RaftStateMachine<C> for MetadataStateMachine {
    type SnapshotData = Vec<u8>;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let inner = self.0.borrow();
        Ok((inner.last_applied, inner.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<C>, io::Error>> + Unpin + OptionalSend,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            let outcome = {
                let mut inner = self.0.borrow_mut();
                inner.last_applied = Some(entry.log_id);
                match &entry.payload {
                    EntryPayload::Normal(batch) => inner.apply_batch(&batch.0),
                    EntryPayload::Membership(membership) => {
                        inner.membership =
                            StoredMembership::new(Some(entry.log_id), membership.clone());
                        ApplyOutcome::nothing(inner.image.offset())
                    }
                    EntryPayload::Blank => ApplyOutcome::nothing(inner.image.offset()),
                }
            };
            if let Some(responder) = responder {
                responder.send(outcome);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Vec<u8>,
    ) -> Result<(), io::Error> {
        self.save(meta, &snapshot).await?;
        self.0.borrow_mut().install(meta, snapshot)
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        Ok(self
            .0
            .borrow()
            .snapshot
            .clone()
            .map(|(meta, image)| Snapshot {
                meta,
                snapshot: image,
            }))
    }
}

impl ApplyOutcome {
    fn nothing(image_offset: i64) -> Self {
        ApplyOutcome {
            base_offset: image_offset + 1,
            image_offset,
            error: None,
        }
    }
}
