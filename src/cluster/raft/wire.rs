//! The Raft RPCs between controllers, sans-IO: one frame per request or
//! response, `body len u32 BE | body`, the body the postcard encoding of a
//! [`RaftRequest`] or [`RaftResponse`]. The socket side is
//! [`network`](super::network).

use super::log_file::Vote;
use super::MetadataRaftTypes;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::type_config::alias::SnapshotMetaOf;
use serde::{Deserialize, Serialize};

type C = MetadataRaftTypes;

/// Bytes of a frame's length prefix.
pub const FRAME_HEADER_BYTES: usize = 4;
/// Largest frame body accepted or sent (an AppendEntries of many entries;
/// snapshots travel in chunks of at most [`SNAPSHOT_CHUNK_BYTES`]).
pub const FRAME_BODY_BYTES_MAX: usize = 64 << 20;
/// Most snapshot bytes in one [`RaftRequest::SnapshotChunk`]: a transfer is
/// paced chunk by chunk, each under its own deadline.
pub const SNAPSHOT_CHUNK_BYTES: usize = 1 << 20;
/// Largest snapshot a node receives (its assembly buffer's bound; 100,000
/// partitions take a few MiB).
pub const SNAPSHOT_BYTES_MAX: u64 = 256 << 20;

/// A request from one controller to another.
#[derive(Debug, Serialize, Deserialize)]
pub enum RaftRequest {
    /// Log replication and heartbeats.
    AppendEntries(AppendEntriesRequest<C>),
    /// A candidate asks for a vote.
    Vote(VoteRequest<C>),
    /// A would-be candidate asks whether it could win.
    PreVote(VoteRequest<C>),
    /// One chunk of the leader's snapshot, in order, on a connection of its
    /// own (replication and heartbeats never wait behind a transfer). The
    /// last chunk (`offset + data.len() == total_bytes`) installs it.
    SnapshotChunk {
        /// The leader's vote.
        vote: Vote,
        /// What the snapshot covers.
        meta: SnapshotMetaOf<C>,
        /// The whole snapshot's size.
        total_bytes: u64,
        /// Where `data` starts in the snapshot.
        offset: u64,
        /// At most [`SNAPSHOT_CHUNK_BYTES`] of it.
        data: Vec<u8>,
    },
    /// A broker-to-controller request (registration, heartbeat, forwarded
    /// admin request), opaque here: encoded and handled by
    /// `cluster::member`, which shares the CONTROLLER listener.
    Broker(Vec<u8>),
}

/// The answer to a [`RaftRequest`].
#[derive(Debug, Serialize, Deserialize)]
pub enum RaftResponse {
    /// To `AppendEntries`.
    AppendEntries(AppendEntriesResponse<C>),
    /// To `Vote` and `PreVote`.
    Vote(VoteResponse<C>),
    /// To the last `SnapshotChunk`: the snapshot was installed.
    Snapshot(SnapshotResponse<C>),
    /// To any other `SnapshotChunk`: the bytes before `next_offset` arrived.
    ChunkReceived {
        /// The offset the next chunk starts at.
        next_offset: u64,
    },
    /// The receiver could not handle the request (shutting down, fatal).
    Failed(String),
    /// To `Broker`: the answer, opaque here.
    Broker(Vec<u8>),
}

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The body would exceed [`FRAME_BODY_BYTES_MAX`].
    TooLarge(usize),
    /// The body does not decode.
    Malformed(String),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::TooLarge(len) => {
                write!(
                    f,
                    "raft frame of {len} bytes exceeds {FRAME_BODY_BYTES_MAX}"
                )
            }
            WireError::Malformed(why) => write!(f, "malformed raft frame: {why}"),
        }
    }
}

impl std::error::Error for WireError {}

/// `message` as one frame, length prefix included.
pub fn encode_frame<T: Serialize>(message: &T) -> Result<Vec<u8>, WireError> {
    let mut frame = vec![0u8; FRAME_HEADER_BYTES];
    let mut frame = postcard::to_extend(message, std::mem::take(&mut frame))
        .map_err(|e| WireError::Malformed(e.to_string()))?;
    let body_len = frame.len() - FRAME_HEADER_BYTES;
    if body_len > FRAME_BODY_BYTES_MAX {
        return Err(WireError::TooLarge(body_len));
    }
    frame[..FRAME_HEADER_BYTES].copy_from_slice(&(body_len as u32).to_be_bytes());
    Ok(frame)
}

/// The body length a frame header announces, checked against the bound
/// before anything is allocated for it.
pub fn body_len(header: [u8; FRAME_HEADER_BYTES]) -> Result<usize, WireError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > FRAME_BODY_BYTES_MAX {
        return Err(WireError::TooLarge(len));
    }
    Ok(len)
}

/// Decodes a frame body, which must be exactly one message: postcard
/// alone ignores trailing bytes, and a Kafka client's first request on the
/// CONTROLLER listener (ApiVersions v0/v1) would then read as a Raft RPC.
pub fn decode_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, WireError> {
    let malformed = |e: postcard::Error| WireError::Malformed(e.to_string());
    match postcard::take_from_bytes(body).map_err(malformed)? {
        (message, []) => Ok(message),
        (_, rest) => Err(WireError::Malformed(format!(
            "{} bytes past the message",
            rest.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::Vote;

    fn frame_body(frame: &[u8]) -> &[u8] {
        let header = frame[..FRAME_HEADER_BYTES].try_into().unwrap();
        let len = body_len(header).unwrap();
        assert_eq!(len, frame.len() - FRAME_HEADER_BYTES);
        &frame[FRAME_HEADER_BYTES..]
    }

    #[test]
    fn vote_request_round_trips_through_a_frame() {
        let request = RaftRequest::Vote(VoteRequest::new(Vote::new(3, 2), None));
        let frame = encode_frame(&request).unwrap();
        let decoded: RaftRequest = decode_body(frame_body(&frame)).unwrap();
        let RaftRequest::Vote(vote) = decoded else {
            panic!("decoded {decoded:?}");
        };
        assert_eq!(vote.vote, Vote::new(3, 2));
    }

    #[test]
    fn oversized_header_is_refused_before_allocation() {
        let header = ((FRAME_BODY_BYTES_MAX + 1) as u32).to_be_bytes();
        assert_eq!(
            body_len(header),
            Err(WireError::TooLarge(FRAME_BODY_BYTES_MAX + 1))
        );
    }

    #[test]
    fn truncated_body_is_malformed_not_a_panic() {
        let frame = encode_frame(&RaftResponse::Failed("shutting down".into())).unwrap();
        let body = frame_body(&frame);
        let result: Result<RaftResponse, _> = decode_body(&body[..body.len() - 3]);
        assert!(matches!(result, Err(WireError::Malformed(_))), "{result:?}");
    }
}
