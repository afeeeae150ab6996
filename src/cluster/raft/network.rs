//! Raft RPCs over TCP between controllers, the client side of
//! [`wire`](super::wire): a link per peer with two connections, one for
//! replication, heartbeats and votes and one for snapshot transfers (in
//! bounded chunks), one exchange at a time on each, every exchange under a
//! deadline. The CONTROLLER listener's side is [`server`](super::server).

use super::log_file::Vote;
use super::runtime::GlommioRuntime;
use super::state_machine::Snapshot;
use super::wire::{
    body_len, decode_body, encode_frame, RaftRequest, RaftResponse, WireError, SNAPSHOT_CHUNK_BYTES,
};
use super::{MetadataRaftTypes, NodeId};
use bytes::Bytes;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use futures_util::lock::Mutex as AsyncMutex;
use glommio::net::TcpStream;
use openraft::errors::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::v2::RaftNetworkV2;
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{AsyncRuntime, BasicNode, OptionalSend, RaftNetworkFactory};
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

type C = MetadataRaftTypes;

/// Deadline of a TCP connect to a peer controller.
pub const CONNECT_TIMEOUT_MS: u64 = 1_000;

/// Why an exchange with a peer failed.
#[derive(Debug)]
pub(super) enum CallError {
    /// No connection could be made.
    Connect(io::Error),
    /// The connection failed mid-exchange.
    Io(io::Error),
    /// A frame was refused.
    Wire(WireError),
    /// The deadline passed.
    TimedOut(Duration),
    /// The peer answered something else or reported a failure.
    Answer(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Connect(e) => write!(f, "connect: {e}"),
            CallError::Io(e) => write!(f, "i/o: {e}"),
            CallError::Wire(e) => write!(f, "{e}"),
            CallError::TimedOut(d) => write!(f, "no answer within {} ms", d.as_millis()),
            CallError::Answer(why) => write!(f, "peer answered: {why}"),
        }
    }
}

impl std::error::Error for CallError {}

impl CallError {
    fn into_rpc(self) -> RPCError<C> {
        match self {
            CallError::Connect(_) => RPCError::Unreachable(Unreachable::new(&self)),
            _ => RPCError::Network(NetworkError::new(&self)),
        }
    }
}

/// Resolves `addr` on a helper thread: a host name lookup can block.
pub(crate) async fn resolve(addr: &str) -> io::Result<SocketAddr> {
    let owned = addr.to_string();
    crate::local::helper_pool::run_job(crate::local::helper_pool::Helpers::Control, move || {
        owned
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{owned}: no address")))
    })
    .await
    .map_err(io::Error::other)?
}

async fn connect(addr: &str) -> Result<TcpStream, CallError> {
    let resolved = resolve(addr).await.map_err(CallError::Connect)?;
    let stream = TcpStream::connect_timeout(resolved, Duration::from_millis(CONNECT_TIMEOUT_MS))
        .await
        .map_err(|e| CallError::Connect(io::Error::from(e)))?;
    stream
        .set_nodelay(true)
        .map_err(|e| CallError::Io(io::Error::from(e)))?;
    Ok(stream)
}

/// Reads one frame body from `stream`.
pub(super) async fn read_frame(stream: &mut TcpStream) -> Result<Vec<u8>, CallError> {
    let mut header = [0u8; super::wire::FRAME_HEADER_BYTES];
    stream
        .read_exact(&mut header)
        .await
        .map_err(CallError::Io)?;
    read_body(stream, header).await
}

/// Reads the body a frame `header` announced.
pub(super) async fn read_body(
    stream: &mut TcpStream,
    header: [u8; super::wire::FRAME_HEADER_BYTES],
) -> Result<Vec<u8>, CallError> {
    let len = body_len(header).map_err(CallError::Wire)?;
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await.map_err(CallError::Io)?;
    Ok(body)
}

/// One connection to a peer used one exchange at a time.
struct Channel {
    /// The connection and when it was last used.
    stream: RefCell<Option<(TcpStream, Instant)>>,
    /// One exchange at a time on the connection.
    turn: AsyncMutex<()>,
}

impl Channel {
    fn new() -> Self {
        Channel {
            stream: RefCell::new(None),
            turn: AsyncMutex::new(()),
        }
    }

    /// The open connection, unless it idled `reuse_idle` or longer (the
    /// peer closes idle connections: a request written into one it just
    /// closed would fail); else a new one.
    async fn stream(&self, addr: &str, reuse_idle: Duration) -> Result<TcpStream, CallError> {
        let reused = self.stream.borrow_mut().take();
        match reused {
            Some((stream, used)) if used.elapsed() < reuse_idle => Ok(stream),
            _ => connect(addr).await,
        }
    }

    fn keep(&self, stream: TcpStream) {
        *self.stream.borrow_mut() = Some((stream, Instant::now()));
    }
}

/// Sends `frame` and reads the answer on `stream`.
async fn exchange(stream: &mut TcpStream, frame: &[u8]) -> Result<RaftResponse, CallError> {
    stream.write_all(frame).await.map_err(CallError::Io)?;
    stream.flush().await.map_err(CallError::Io)?;
    let body = read_frame(stream).await?;
    decode_body::<RaftResponse>(&body).map_err(CallError::Wire)
}

/// The link to one peer: its address, a connection for replication,
/// heartbeats and votes, and one of its own for snapshot transfers (a
/// transfer of many chunks must not hold heartbeats back: the follower
/// would start an election while it is being caught up).
struct PeerLink {
    addr: String,
    reuse_idle: Duration,
    rpc: Channel,
    snapshot: Channel,
}

impl PeerLink {
    /// Sends `request` and awaits the answer, all within `deadline`. A
    /// failed or timed-out exchange drops the connection (its state is
    /// unknown); the next call reconnects.
    async fn call(
        &self,
        request: &RaftRequest,
        deadline: Duration,
    ) -> Result<RaftResponse, CallError> {
        let frame = encode_frame(request).map_err(CallError::Wire)?;
        let exchange = async {
            let _turn = self.rpc.turn.lock().await;
            let mut stream = self.rpc.stream(&self.addr, self.reuse_idle).await?;
            let answer = exchange(&mut stream, &frame).await?;
            self.rpc.keep(stream);
            Ok(answer)
        };
        match GlommioRuntime::timeout(deadline, exchange).await {
            Ok(Ok(RaftResponse::Failed(why))) => Err(CallError::Answer(why)),
            Ok(answer) => answer,
            Err(_) => Err(CallError::TimedOut(deadline)),
        }
    }

    /// Sends `snapshot` in chunks of at most `chunk_bytes` on the snapshot
    /// connection, each chunk acknowledged within `chunk_deadline`; answers
    /// the receiver's reply to the last one.
    async fn send_snapshot(
        &self,
        vote: Vote,
        snapshot: &Snapshot,
        chunk_bytes: usize,
        chunk_deadline: Duration,
    ) -> Result<SnapshotResponse<C>, CallError> {
        let _turn = self.snapshot.turn.lock().await;
        let mut stream = self.snapshot.stream(&self.addr, self.reuse_idle).await?;
        let total_bytes = snapshot.snapshot.len() as u64;
        let mut offset = 0usize;
        loop {
            let end = (offset + chunk_bytes).min(snapshot.snapshot.len());
            let frame = encode_frame(&RaftRequest::SnapshotChunk {
                vote,
                meta: snapshot.meta.clone(),
                total_bytes,
                offset: offset as u64,
                data: snapshot.snapshot[offset..end].to_vec(),
            })
            .map_err(CallError::Wire)?;
            let answer = GlommioRuntime::timeout(chunk_deadline, exchange(&mut stream, &frame))
                .await
                .map_err(|_| CallError::TimedOut(chunk_deadline))??;
            match answer {
                RaftResponse::ChunkReceived { next_offset } if next_offset == end as u64 => {
                    offset = end;
                }
                RaftResponse::Snapshot(answer) if end == snapshot.snapshot.len() => {
                    self.snapshot.keep(stream);
                    return Ok(answer);
                }
                RaftResponse::Failed(why) => return Err(CallError::Answer(why)),
                other => return Err(unexpected(other)),
            }
        }
    }
}

/// openraft's network factory: one [`PeerLink`] per peer, shared by every
/// client openraft makes for it (replication, heartbeats, votes, snapshots).
#[derive(Clone)]
pub struct ControllerNetwork {
    links: Rc<RefCell<HashMap<NodeId, Rc<PeerLink>>>>,
    reuse_idle: Duration,
}

impl ControllerNetwork {
    /// A network whose connections idle for `peer_idle_timeout` (the time
    /// after which peers close them) are replaced after half of it.
    pub fn new(peer_idle_timeout: Duration) -> Self {
        ControllerNetwork {
            links: Rc::default(),
            reuse_idle: peer_idle_timeout / 2,
        }
    }

    fn link(&self, target: NodeId, addr: &str) -> Rc<PeerLink> {
        let mut links = self.links.borrow_mut();
        match links.get(&target) {
            Some(link) if link.addr == addr => link.clone(),
            _ => {
                let link = Rc::new(PeerLink {
                    addr: addr.to_string(),
                    reuse_idle: self.reuse_idle,
                    rpc: Channel::new(),
                    snapshot: Channel::new(),
                });
                links.insert(target, link.clone());
                link
            }
        }
    }
}

/// What the CONTROLLER listener does with a broker's request
/// ([`RaftRequest::Broker`]): the bytes in; the answer's bytes out, with
/// the broker the request named when it registers or heartbeats (the
/// connection then belongs to it, see [`PeerPresence`](super::presence)).
pub type BrokerRpcHandler =
    Rc<dyn Fn(Vec<u8>) -> Pin<Box<dyn Future<Output = (Vec<u8>, Option<NodeId>)>>>>;

/// What the CONTROLLER listener does with a Kafka client's request (KIP-919:
/// an admin client with `bootstrap.controllers`, e.g.
/// `kafka-metadata-quorum --bootstrap-controller`): one request frame in
/// (its size prefix stripped), the whole response frame out, or `None` to
/// close the connection.
pub type KafkaApiHandler = Rc<dyn Fn(Bytes) -> Pin<Box<dyn Future<Output = Option<Bytes>>>>>;

/// Who answers what besides the Raft RPCs on the CONTROLLER listener
/// (`None`: refused).
#[derive(Clone, Default)]
pub struct ListenerHandlers {
    /// Brokers' requests ([`RaftRequest::Broker`](super::wire::RaftRequest::Broker)).
    pub brokers: Option<BrokerRpcHandler>,
    /// Kafka clients' requests.
    pub kafka: Option<KafkaApiHandler>,
}

/// A broker's link to one controller's CONTROLLER listener: the same
/// framing, one connection, one exchange at a time, each under a deadline.
pub struct BrokerLink(PeerLink);

impl BrokerLink {
    /// A link to `addr` (`host:port`) that reuses its connection while it
    /// was used within `reuse_idle`; connects on first use.
    pub fn new(addr: &str, reuse_idle: Duration) -> Self {
        BrokerLink(PeerLink {
            addr: addr.to_string(),
            reuse_idle,
            rpc: Channel::new(),
            snapshot: Channel::new(),
        })
    }

    /// Sends `body` as a broker request and returns the answer's bytes, all
    /// within `deadline`.
    pub async fn call(&self, body: Vec<u8>, deadline: Duration) -> Result<Vec<u8>, String> {
        match self.0.call(&RaftRequest::Broker(body), deadline).await {
            Ok(RaftResponse::Broker(answer)) => Ok(answer),
            Ok(other) => Err(format!("unexpected answer {other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// openraft's client to one peer.
pub struct PeerClient {
    link: Rc<PeerLink>,
}

impl RaftNetworkFactory<C> for ControllerNetwork {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        PeerClient {
            link: self.link(target, &node.addr),
        }
    }
}

fn unexpected(answer: RaftResponse) -> CallError {
    CallError::Answer(format!("unexpected answer {answer:?}"))
}

impl RaftNetworkV2<C> for PeerClient {
    type SnapshotData = Vec<u8>;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<C>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<C>, RPCError<C>> {
        let request = RaftRequest::AppendEntries(rpc);
        match self.link.call(&request, option.soft_ttl()).await {
            Ok(RaftResponse::AppendEntries(answer)) => Ok(answer),
            Ok(other) => Err(unexpected(other).into_rpc()),
            Err(e) => Err(e.into_rpc()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<C>,
        option: RPCOption,
    ) -> Result<VoteResponse<C>, RPCError<C>> {
        self.ask_vote(RaftRequest::Vote(rpc), option).await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<C>,
        option: RPCOption,
    ) -> Result<VoteResponse<C>, RPCError<C>> {
        self.ask_vote(RaftRequest::PreVote(rpc), option).await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<C>, StreamingError<C>> {
        let chunk_bytes = option
            .snapshot_chunk_size()
            .unwrap_or(SNAPSHOT_CHUNK_BYTES)
            .clamp(1, SNAPSHOT_CHUNK_BYTES);
        let send = async {
            Ok(self
                .link
                .send_snapshot(vote, &snapshot, chunk_bytes, option.soft_ttl())
                .await)
        };
        let cancelled = async { Err(cancel.await) };
        match futures_lite::future::or(send, cancelled).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e @ CallError::Connect(_))) => {
                Err(StreamingError::Unreachable(Unreachable::new(&e)))
            }
            Ok(Err(e)) => Err(StreamingError::Network(NetworkError::new(&e))),
            Err(closed) => Err(StreamingError::Closed(closed)),
        }
    }
}

impl PeerClient {
    async fn ask_vote(
        &mut self,
        request: RaftRequest,
        option: RPCOption,
    ) -> Result<VoteResponse<C>, RPCError<C>> {
        match self.link.call(&request, option.soft_ttl()).await {
            Ok(RaftResponse::Vote(answer)) => Ok(answer),
            Ok(other) => Err(unexpected(other).into_rpc()),
            Err(e) => Err(e.into_rpc()),
        }
    }
}

#[cfg(test)]
#[path = "network_tests.rs"]
mod tests;
