//! The CONTROLLER listener: serves the peers' Raft RPCs
//! ([`wire`](super::wire)) to the local Raft node. Every read is bounded in
//! time (a silent or trickling peer cannot hold a connection, nor one of the
//! [`CONTROLLER_CONNECTIONS_MAX`] slots, forever) and every buffer in size
//! (frames by [`FRAME_BODY_BYTES_MAX`](super::wire::FRAME_BODY_BYTES_MAX),
//! a snapshot being received by [`SNAPSHOT_BYTES_MAX`], at most
//! [`SNAPSHOT_RECEIVES_MAX`] at once).

use super::log_file::Vote;
use super::network::{read_body, BrokerRpcHandler, CallError, KafkaApiHandler, ListenerHandlers};
use super::presence::PeerPresence;
use super::runtime::GlommioRuntime;
use super::state_machine::Snapshot;
use super::wire::{
    decode_body, encode_frame, RaftRequest, RaftResponse, FRAME_HEADER_BYTES, SNAPSHOT_BYTES_MAX,
};
use super::{MetadataRaft, MetadataRaftTypes, NodeId};
use crate::local::notify::LocalEvent;
use crate::protocol::frame::decode_request_header;
use bytes::Bytes;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use kafka_protocol::messages::ApiKey;
use openraft::type_config::alias::SnapshotMetaOf;
use openraft::vote::RaftLeaderId;
use openraft::AsyncRuntime;
use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Connections the CONTROLLER listener serves at once (each voter and
/// learner keeps two per peer); past it, new ones are closed.
pub const CONTROLLER_CONNECTIONS_MAX: usize = 64;
/// Snapshots being received at once (each buffers up to
/// [`SNAPSHOT_BYTES_MAX`]); a further transfer is refused until one ends.
pub const SNAPSHOT_RECEIVES_MAX: usize = 2;
/// Of those connections, how many Kafka clients (KIP-919's admin clients)
/// may hold at once, so that they cannot take the peers' slots.
pub const KAFKA_CLIENT_CONNECTIONS_MAX: usize = 16;

/// How long the listener waits on a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadDeadlines {
    /// A connection with no new frame for this long is closed.
    pub idle: Duration,
    /// A frame whose header arrived must be whole within this.
    pub frame: Duration,
}

/// A snapshot arriving chunk by chunk on one connection.
struct Assembly {
    vote: Vote,
    meta: SnapshotMetaOf<MetadataRaftTypes>,
    total_bytes: u64,
    data: Vec<u8>,
    /// Releases the receive slot when dropped.
    _slot: ReceiveSlot,
}

/// One of the [`SNAPSHOT_RECEIVES_MAX`] receive slots.
struct ReceiveSlot(Rc<Cell<usize>>);

impl ReceiveSlot {
    fn take(receiving: &Rc<Cell<usize>>) -> Option<ReceiveSlot> {
        if receiving.get() >= SNAPSHOT_RECEIVES_MAX {
            return None;
        }
        receiving.set(receiving.get() + 1);
        Some(ReceiveSlot(receiving.clone()))
    }
}

impl Drop for ReceiveSlot {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// What one connection holds between frames.
struct ConnectionState {
    raft: MetadataRaft,
    /// Where brokers' requests go (`None`: refused).
    brokers: Option<BrokerRpcHandler>,
    /// Where Kafka clients' requests go (`None`: refused).
    kafka: Option<KafkaApiHandler>,
    /// Connections serving Kafka clients now.
    kafka_open: Rc<Cell<usize>>,
    receiving: Rc<Cell<usize>>,
    assembly: Option<Assembly>,
    /// Who holds which connections (see [`PeerPresence`]).
    presence: PeerPresence,
    /// The peer this connection belongs to, once a frame named it.
    peer: Option<NodeId>,
}

impl ConnectionState {
    /// The connection belongs to `peer` from its first frame naming one.
    fn attribute(&mut self, peer: Option<NodeId>) {
        if let (None, Some(peer)) = (self.peer, peer) {
            self.peer = Some(peer);
            self.presence.opened(peer);
        }
    }

    /// Hands one request to the local Raft node.
    async fn handle(&mut self, request: RaftRequest) -> RaftResponse {
        let failed = |e: &dyn std::fmt::Display| RaftResponse::Failed(e.to_string());
        let sender = match &request {
            RaftRequest::AppendEntries(rpc) => Some(*rpc.vote.leader_id().node_id()),
            RaftRequest::Vote(rpc) | RaftRequest::PreVote(rpc) => {
                Some(*rpc.vote.leader_id().node_id())
            }
            RaftRequest::SnapshotChunk { vote, .. } => Some(*vote.leader_id().node_id()),
            RaftRequest::Broker(_) => None,
        };
        self.attribute(sender);
        let raft = &self.raft;
        match request {
            RaftRequest::AppendEntries(rpc) => match raft.append_entries(rpc).await {
                Ok(answer) => RaftResponse::AppendEntries(answer),
                Err(e) => failed(&e),
            },
            RaftRequest::Vote(rpc) => match raft.vote(rpc).await {
                Ok(answer) => RaftResponse::Vote(answer),
                Err(e) => failed(&e),
            },
            RaftRequest::PreVote(rpc) => match raft.pre_vote(rpc).await {
                Ok(answer) => RaftResponse::Vote(answer),
                Err(e) => failed(&e),
            },
            RaftRequest::SnapshotChunk {
                vote,
                meta,
                total_bytes,
                offset,
                data,
            } => self.chunk(vote, meta, total_bytes, offset, data).await,
            RaftRequest::Broker(body) => match self.brokers.clone() {
                Some(brokers) => {
                    let (answer, broker) = brokers(body).await;
                    self.attribute(broker);
                    RaftResponse::Broker(answer)
                }
                None => failed(&"this node serves no broker requests"),
            },
        }
    }

    /// Adds one chunk to the snapshot being received; the last one
    /// installs it.
    async fn chunk(
        &mut self,
        vote: Vote,
        meta: SnapshotMetaOf<MetadataRaftTypes>,
        total_bytes: u64,
        offset: u64,
        data: Vec<u8>,
    ) -> RaftResponse {
        if offset == 0 {
            // A new transfer replaces an unfinished one (the sender retried).
            self.assembly = None;
            if total_bytes > SNAPSHOT_BYTES_MAX {
                return RaftResponse::Failed(format!(
                    "snapshot of {total_bytes} bytes exceeds {SNAPSHOT_BYTES_MAX}"
                ));
            }
            let Some(slot) = ReceiveSlot::take(&self.receiving) else {
                return RaftResponse::Failed(format!(
                    "{SNAPSHOT_RECEIVES_MAX} snapshots are being received already"
                ));
            };
            self.assembly = Some(Assembly {
                vote,
                meta: meta.clone(),
                total_bytes,
                data: Vec::new(),
                _slot: slot,
            });
        }
        let Some(assembly) = self.assembly.as_mut() else {
            return RaftResponse::Failed(format!("snapshot chunk at {offset} without its start"));
        };
        let in_order = assembly.vote == vote
            && assembly.meta == meta
            && assembly.total_bytes == total_bytes
            && assembly.data.len() as u64 == offset
            && offset + data.len() as u64 <= total_bytes;
        if !in_order {
            self.assembly = None;
            return RaftResponse::Failed(format!(
                "snapshot chunk at {offset} out of order: transfer abandoned"
            ));
        }
        assembly.data.extend_from_slice(&data);
        let next_offset = assembly.data.len() as u64;
        if next_offset < total_bytes {
            return RaftResponse::ChunkReceived { next_offset };
        }
        let Some(done) = self.assembly.take() else {
            return RaftResponse::Failed("snapshot transfer vanished".into());
        };
        let snapshot = Snapshot {
            meta: done.meta,
            snapshot: done.data,
        };
        match self.raft.install_full_snapshot(done.vote, snapshot).await {
            Ok(answer) => RaftResponse::Snapshot(answer),
            Err(e) => RaftResponse::Failed(e.to_string()),
        }
    }
}

/// What reading a connection's next frame found.
enum Next {
    /// A whole frame's body.
    Frame(Vec<u8>),
    /// No frame within the idle deadline: this node closes the connection.
    Idle,
    /// The peer closed the connection.
    Closed,
}

/// Reads the next frame: its header within `deadlines.idle`, its body
/// within `deadlines.frame`.
async fn next_frame(stream: &mut TcpStream, deadlines: ReadDeadlines) -> Result<Next, CallError> {
    let mut header = [0u8; FRAME_HEADER_BYTES];
    let header_read = GlommioRuntime::timeout(deadlines.idle, stream.read_exact(&mut header));
    match header_read.await {
        Err(_) => return Ok(Next::Idle),
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Next::Closed),
        Ok(Err(e)) => return Err(CallError::Io(e)),
        Ok(Ok(())) => {}
    }
    match GlommioRuntime::timeout(deadlines.frame, read_body(stream, header)).await {
        Ok(body) => body.map(Next::Frame),
        Err(_) => Err(CallError::TimedOut(deadlines.frame)),
    }
}

/// Serves one peer's connection until it closes, idles out or fails, then
/// tells the presence table who left and how.
async fn serve_connection(
    mut stream: TcpStream,
    mut state: ConnectionState,
    deadlines: ReadDeadlines,
) -> Result<(), CallError> {
    let served = serve_frames(&mut stream, &mut state, deadlines).await;
    if let Some(peer) = state.peer {
        // Closed or reset by the peer (a killed process): it left. An idle
        // timeout or a trickled frame is this node's own decision.
        let by_peer = matches!(&served, Ok(()) | Err(CallError::Io(_)));
        state.presence.closed(peer, by_peer, Instant::now());
    }
    served
}

/// Answers frames until the peer closes (`Ok`), the connection idles out
/// (`Err(TimedOut)`) or an error.
async fn serve_frames(
    stream: &mut TcpStream,
    state: &mut ConnectionState,
    deadlines: ReadDeadlines,
) -> Result<(), CallError> {
    let mut first = true;
    loop {
        let body = match next_frame(stream, deadlines).await? {
            Next::Frame(body) => body,
            Next::Closed => return Ok(()),
            Next::Idle => return Err(CallError::TimedOut(deadlines.idle)),
        };
        let answer = match decode_body::<RaftRequest>(&body) {
            Ok(request) => state.handle(request).await,
            Err(e) => match state.kafka.clone().filter(|_| first) {
                Some(kafka) if opens_kafka_connection(&body) => {
                    return serve_kafka(stream, Bytes::from(body), kafka, state, deadlines).await;
                }
                _ => RaftResponse::Failed(e.to_string()),
            },
        };
        first = false;
        let frame = encode_frame(&answer).map_err(CallError::Wire)?;
        stream.write_all(&frame).await.map_err(CallError::Io)?;
        stream.flush().await.map_err(CallError::Io)?;
    }
}

/// Whether a connection's first frame, which is no Raft RPC, is a Kafka
/// client's ApiVersions request: every Kafka client opens with one. A frame
/// that decodes as a Raft RPC is one, whatever else it could be read as, so
/// the peers' traffic is never taken for a client's.
fn opens_kafka_connection(body: &[u8]) -> bool {
    let api_versions = (ApiKey::ApiVersions as i16).to_be_bytes();
    body.starts_with(&api_versions)
        && decode_request_header(Bytes::copy_from_slice(body))
            .is_ok_and(|frame| frame.api_key() == Some(ApiKey::ApiVersions))
}

/// Serves a Kafka client's connection (KIP-919) from its first request on,
/// one request at a time, until it closes or idles out; at most
/// [`KAFKA_CLIENT_CONNECTIONS_MAX`] at once.
async fn serve_kafka(
    stream: &mut TcpStream,
    first: Bytes,
    kafka: KafkaApiHandler,
    state: &ConnectionState,
    deadlines: ReadDeadlines,
) -> Result<(), CallError> {
    let open = state.kafka_open.clone();
    if open.get() >= KAFKA_CLIENT_CONNECTIONS_MAX {
        log::warn!(
            "metadata quorum listener: {KAFKA_CLIENT_CONNECTIONS_MAX} Kafka client connections \
             open, closing a new one"
        );
        return Ok(());
    }
    open.set(open.get() + 1);
    let _slot = SlotGuard(open);
    let mut request = first;
    loop {
        let Some(answer) = kafka(request).await else {
            return Ok(());
        };
        stream.write_all(&answer).await.map_err(CallError::Io)?;
        stream.flush().await.map_err(CallError::Io)?;
        request = match next_frame(stream, deadlines).await? {
            Next::Frame(body) => Bytes::from(body),
            Next::Closed => return Ok(()),
            Next::Idle => return Err(CallError::TimedOut(deadlines.idle)),
        };
    }
}

/// Gives a counted slot back when dropped.
struct SlotGuard(Rc<Cell<usize>>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

/// Accepts the peers' connections on the CONTROLLER `listener` and serves
/// them until `stop` fires (which also closes every connection); brokers'
/// and Kafka clients' requests go to `handlers`, and who holds connections
/// to `presence`.
pub async fn serve(
    listener: TcpListener,
    raft: MetadataRaft,
    handlers: ListenerHandlers,
    presence: PeerPresence,
    stop: LocalEvent,
    deadlines: ReadDeadlines,
) {
    let open = Rc::new(Cell::new(0usize));
    let kafka_open = Rc::new(Cell::new(0usize));
    let receiving = Rc::new(Cell::new(0usize));
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            stop.wait().await;
            None
        })
        .await;
        let stream = match accepted {
            None => return,
            Some(Ok(stream)) => stream,
            Some(Err(e)) => {
                log::warn!("metadata quorum listener: accept failed: {e}");
                glommio::timer::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if open.get() >= CONTROLLER_CONNECTIONS_MAX {
            log::warn!("metadata quorum listener: {CONTROLLER_CONNECTIONS_MAX} connections open, closing a new one");
            continue;
        }
        let _ = stream.set_nodelay(true);
        open.set(open.get() + 1);
        let state = ConnectionState {
            raft: raft.clone(),
            brokers: handlers.brokers.clone(),
            kafka: handlers.kafka.clone(),
            kafka_open: kafka_open.clone(),
            receiving: receiving.clone(),
            assembly: None,
            presence: presence.clone(),
            peer: None,
        };
        let (stop, open) = (stop.clone(), open.clone());
        glommio::spawn_local(async move {
            let served =
                futures_lite::future::or(serve_connection(stream, state, deadlines), async {
                    stop.wait().await;
                    Ok(())
                });
            match served.await {
                Err(CallError::TimedOut(_)) | Ok(()) => {}
                Err(e) => log::debug!("metadata quorum connection ended: {e}"),
            }
            open.set(open.get() - 1);
        })
        .detach();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ApiVersionsRequest, RequestHeader};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    /// A Kafka ApiVersions request frame body (no size prefix).
    fn api_versions(version: i16, correlation_id: i32, client_id: Option<&'static str>) -> Vec<u8> {
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::ApiVersions as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(client_id.map(StrBytes::from_static_str));
        let body = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("apache-kafka-java"))
            .with_client_software_version(StrBytes::from_static_str("4.4.0"));
        let mut frame = bytes::BytesMut::new();
        let header_version = ApiKey::ApiVersions.request_header_version(version);
        header.encode(&mut frame, header_version).unwrap();
        body.encode(&mut frame, version).unwrap();
        frame.to_vec()
    }

    #[test]
    fn a_kafka_clients_first_request_is_not_read_as_a_raft_rpc() {
        // v0/v1 with a small correlation id read as an AppendEntries from
        // node 0 in term 18 while trailing bytes were ignored. Exactly one
        // message now: only a v0/v1 request with an empty (not null) client
        // id is still short enough to be one (10 bytes), and is served as
        // Raft; clients name themselves.
        for version in 0..=4 {
            for correlation_id in (0..=300).chain([i32::MAX]) {
                for client_id in [None, Some("adminclient-1"), Some("rdkafka")] {
                    let body = api_versions(version, correlation_id, client_id);
                    assert!(
                        decode_body::<RaftRequest>(&body).is_err(),
                        "v{version} correlation {correlation_id} {client_id:?}"
                    );
                    assert!(opens_kafka_connection(&body));
                }
            }
        }
    }

    #[test]
    fn a_raft_frame_is_not_a_kafka_clients() {
        let body = encode_frame(&RaftRequest::Broker(vec![0, 18, 0, 4]))
            .unwrap()
            .split_off(FRAME_HEADER_BYTES);
        assert!(decode_body::<RaftRequest>(&body).is_ok());
        assert!(!opens_kafka_connection(&body));
    }
}
