//! A stand-in for the Raft quorum: a committed metadata log (snapshot plus
//! batches after it), the batches the active controller appended that are not
//! committed yet, and failover. On failover a prefix of the pending batches
//! commits (the new leader had them) and the rest is lost, as in Raft; the
//! next controller is built from the committed log only, through the snapshot
//! codec, as a restarted node would.

use super::events::FetchData;
use crate::cluster::controller::{Controller, ControllerConfig, PlantedBugs};
use crate::cluster::image::snapshot::{decode_snapshot, encode_snapshot};
use crate::cluster::image::MetadataImage;
use crate::cluster::prng::Prng;
use crate::cluster::records::{decode_batch, encode_batch, RecordBatch};
use std::collections::VecDeque;
use std::rc::Rc;

/// Most batches one fetch returns.
const FETCH_BATCHES_MAX: usize = 16;

pub(crate) struct Quorum {
    pub(crate) config: ControllerConfig,
    /// The committed log applied: the reference every image is checked against.
    pub(crate) committed: MetadataImage,
    snapshot: Option<(i64, Rc<Vec<u8>>)>,
    /// Committed batches after the snapshot, as the log stores them.
    log: Vec<Rc<Vec<u8>>>,
    log_base_offsets: Vec<i64>,
    pending: VecDeque<RecordBatch>,
    pub(crate) active: Option<Controller>,
    pub(crate) term: u64,
    snapshot_every_records: usize,
    records_since_snapshot: usize,
    bugs: PlantedBugs,
}

impl Quorum {
    pub(crate) fn new(
        config: ControllerConfig,
        snapshot_every_records: usize,
        bugs: PlantedBugs,
    ) -> Self {
        Quorum {
            config,
            committed: MetadataImage::new(),
            snapshot: None,
            log: Vec::new(),
            log_base_offsets: Vec::new(),
            pending: VecDeque::new(),
            active: None,
            term: 0,
            snapshot_every_records,
            records_since_snapshot: 0,
            bugs,
        }
    }

    /// A controller becomes active at `now_ms`, rebuilt from the stored
    /// snapshot and log; it must match the reference image.
    pub(crate) fn activate(&mut self, now_ms: u64, seed: u64) -> Result<(), String> {
        let image = self.load()?;
        if image != self.committed {
            return Err("image rebuilt from snapshot + log differs from the replayed log".into());
        }
        let mut controller = Controller::new(self.config.clone(), image, now_ms, seed);
        controller.bugs = self.bugs;
        self.active = Some(controller);
        Ok(())
    }

    fn load(&self) -> Result<MetadataImage, String> {
        let mut image = match &self.snapshot {
            Some((_, bytes)) => decode_snapshot(bytes).map_err(|e| e.to_string())?,
            None => MetadataImage::new(),
        };
        for bytes in &self.log {
            let batch = decode_batch(bytes).map_err(|e| e.to_string())?;
            image.apply_batch(&batch).map_err(|e| e.to_string())?;
        }
        Ok(image)
    }

    /// The active controller appends a batch; it must follow the log.
    pub(crate) fn append(&mut self, batch: RecordBatch) -> Result<(), String> {
        let pending_records: usize = self.pending.iter().map(|b| b.records.len()).sum();
        let expected = self.committed.offset() + 1 + pending_records as i64;
        if batch.base_offset != expected {
            return Err(format!(
                "appended batch at offset {} where the log ends before {expected}",
                batch.base_offset
            ));
        }
        self.pending.push_back(batch);
        Ok(())
    }

    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Commits the oldest pending batch and returns it.
    pub(crate) fn commit_next(&mut self) -> Result<Option<RecordBatch>, String> {
        let Some(batch) = self.pending.pop_front() else {
            return Ok(None);
        };
        self.committed
            .apply_batch(&batch)
            .map_err(|e| format!("committed batch does not apply: {e}"))?;
        self.log.push(Rc::new(encode_batch(&batch)));
        self.log_base_offsets.push(batch.base_offset);
        self.records_since_snapshot += batch.records.len();
        if self.records_since_snapshot >= self.snapshot_every_records {
            self.take_snapshot();
        }
        Ok(Some(batch))
    }

    /// Snapshot at the committed offset; the log before it is dropped.
    fn take_snapshot(&mut self) {
        let bytes = encode_snapshot(&self.committed);
        self.snapshot = Some((self.committed.offset(), Rc::new(bytes)));
        self.log.clear();
        self.log_base_offsets.clear();
        self.records_since_snapshot = 0;
    }

    /// How many of the pending batches survive a failover (the new leader
    /// had them): a random prefix, to commit one by one before [`Self::depose`].
    pub(crate) fn surviving_batches(&self, rng: &mut Prng) -> usize {
        rng.range(0, self.pending.len() as u64) as usize
    }

    /// The active controller loses leadership: what is still pending is lost.
    pub(crate) fn depose(&mut self) {
        self.pending.clear();
        self.active = None;
        self.term += 1;
    }

    /// What a broker fetching from `from_offset` gets.
    pub(crate) fn fetch(&self, from_offset: i64) -> Result<FetchData, String> {
        if let Some((snapshot_offset, bytes)) = &self.snapshot {
            if from_offset <= *snapshot_offset {
                return Ok(FetchData::Snapshot(bytes.clone()));
            }
        }
        if from_offset > self.committed.offset() {
            return Ok(FetchData::Batches(Vec::new()));
        }
        let Ok(first) = self.log_base_offsets.binary_search(&from_offset) else {
            return Err(format!(
                "fetch from offset {from_offset}: not a batch boundary"
            ));
        };
        let end = (first + FETCH_BATCHES_MAX).min(self.log.len());
        let batches = self.log[first..end]
            .iter()
            .map(|bytes| decode_batch(bytes).map_err(|e| format!("stored batch: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(FetchData::Batches(batches))
    }
}
