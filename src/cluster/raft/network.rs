//! Raft RPCs over TCP between controllers, the socket side of
//! [`wire`](super::wire): a client link per peer (one connection, one
//! request at a time, every exchange under a deadline) and the server loop
//! of the CONTROLLER listener.

use super::log_file::Vote;
use super::runtime::GlommioRuntime;
use super::state_machine::Snapshot;
use super::wire::{body_len, decode_body, encode_frame, RaftRequest, RaftResponse, WireError};
use super::{MetadataRaft, MetadataRaftTypes, NodeId};
use crate::local::notify::LocalEvent;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use futures_util::lock::Mutex as AsyncMutex;
use glommio::net::{TcpListener, TcpStream};
use openraft::errors::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::v2::RaftNetworkV2;
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{AsyncRuntime, BasicNode, OptionalSend, RaftNetworkFactory};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

type C = MetadataRaftTypes;

/// Deadline of a TCP connect to a peer controller.
pub const CONNECT_TIMEOUT_MS: u64 = 1_000;
/// Connections the CONTROLLER listener serves at once (each voter and
/// learner keeps one per peer); past it, new ones are closed.
pub const CONTROLLER_CONNECTIONS_MAX: usize = 64;

/// Why an exchange with a peer failed.
#[derive(Debug)]
enum CallError {
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
async fn resolve(addr: &str) -> io::Result<SocketAddr> {
    let owned = addr.to_string();
    crate::local::helper_pool::run_control_job(move || {
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
async fn read_frame(stream: &mut TcpStream) -> Result<Vec<u8>, CallError> {
    let mut header = [0u8; super::wire::FRAME_HEADER_BYTES];
    stream
        .read_exact(&mut header)
        .await
        .map_err(CallError::Io)?;
    let len = body_len(header).map_err(CallError::Wire)?;
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await.map_err(CallError::Io)?;
    Ok(body)
}

/// The link to one peer: its address and at most one connection.
struct PeerLink {
    addr: String,
    stream: RefCell<Option<TcpStream>>,
    /// One exchange at a time on the connection.
    turn: AsyncMutex<()>,
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
            let _turn = self.turn.lock().await;
            let reused = self.stream.borrow_mut().take();
            let mut stream = match reused {
                Some(stream) => stream,
                None => connect(&self.addr).await?,
            };
            stream.write_all(&frame).await.map_err(CallError::Io)?;
            stream.flush().await.map_err(CallError::Io)?;
            let body = read_frame(&mut stream).await?;
            *self.stream.borrow_mut() = Some(stream);
            decode_body::<RaftResponse>(&body).map_err(CallError::Wire)
        };
        match GlommioRuntime::timeout(deadline, exchange).await {
            Ok(Ok(RaftResponse::Failed(why))) => Err(CallError::Answer(why)),
            Ok(answer) => answer,
            Err(_) => Err(CallError::TimedOut(deadline)),
        }
    }
}

/// What the CONTROLLER listener does with a broker's request
/// ([`RaftRequest::Broker`]): the bytes in, the answer's bytes out.
pub type BrokerRpcHandler = Rc<dyn Fn(Vec<u8>) -> Pin<Box<dyn Future<Output = Vec<u8>>>>>;

/// A broker's link to one controller's CONTROLLER listener: the same
/// framing, one connection, one exchange at a time, each under a deadline.
pub struct BrokerLink(PeerLink);

impl BrokerLink {
    /// A link to `addr` (`host:port`); connects on first use.
    pub fn new(addr: &str) -> Self {
        BrokerLink(PeerLink {
            addr: addr.to_string(),
            stream: RefCell::new(None),
            turn: AsyncMutex::new(()),
        })
    }

    /// The address this link calls.
    pub fn addr(&self) -> &str {
        &self.0.addr
    }

    /// Sends `body` as a broker request and returns the answer's bytes, all
    /// within `deadline`.
    pub async fn call(&self, body: Vec<u8>, deadline: Duration) -> Result<Vec<u8>, String> {
        match self.0.call(&RaftRequest::Broker(body), deadline).await {
            Ok(RaftResponse::Broker(answer)) => Ok(answer),
            Ok(other) => Err(unexpected(other).to_string()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// openraft's network factory: one [`PeerLink`] per peer, shared by every
/// client openraft makes for it (replication, heartbeats, votes, snapshots).
#[derive(Clone, Default)]
pub struct ControllerNetwork {
    links: Rc<RefCell<HashMap<NodeId, Rc<PeerLink>>>>,
}

impl ControllerNetwork {
    fn link(&self, target: NodeId, addr: &str) -> Rc<PeerLink> {
        let mut links = self.links.borrow_mut();
        match links.get(&target) {
            Some(link) if link.addr == addr => link.clone(),
            _ => {
                let link = Rc::new(PeerLink {
                    addr: addr.to_string(),
                    stream: RefCell::new(None),
                    turn: AsyncMutex::new(()),
                });
                links.insert(target, link.clone());
                link
            }
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
        _cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<C>, StreamingError<C>> {
        let request = RaftRequest::FullSnapshot {
            vote,
            meta: snapshot.meta,
            data: snapshot.snapshot,
        };
        let answer = self.link.call(&request, option.hard_ttl()).await;
        match answer {
            Ok(RaftResponse::Snapshot(answer)) => Ok(answer),
            Ok(other) => Err(StreamingError::Network(NetworkError::new(&unexpected(
                other,
            )))),
            Err(e @ CallError::Connect(_)) => {
                Err(StreamingError::Unreachable(Unreachable::new(&e)))
            }
            Err(e) => Err(StreamingError::Network(NetworkError::new(&e))),
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

/// Hands one request to the local Raft node (or a broker's to `brokers`).
async fn handle(
    raft: &MetadataRaft,
    brokers: Option<&BrokerRpcHandler>,
    request: RaftRequest,
) -> RaftResponse {
    let failed = |e: &dyn std::fmt::Display| RaftResponse::Failed(e.to_string());
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
        RaftRequest::FullSnapshot { vote, meta, data } => {
            let snapshot = Snapshot {
                meta,
                snapshot: data,
            };
            match raft.install_full_snapshot(vote, snapshot).await {
                Ok(answer) => RaftResponse::Snapshot(answer),
                Err(e) => failed(&e),
            }
        }
        RaftRequest::Broker(body) => match brokers {
            Some(brokers) => RaftResponse::Broker(brokers(body).await),
            None => RaftResponse::Failed("this node serves no broker requests".to_string()),
        },
    }
}

/// Serves one peer's connection until it closes or fails.
async fn serve_connection(
    mut stream: TcpStream,
    raft: MetadataRaft,
    brokers: Option<BrokerRpcHandler>,
) -> Result<(), CallError> {
    loop {
        let body = match read_frame(&mut stream).await {
            Err(CallError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            other => other?,
        };
        let answer = match decode_body::<RaftRequest>(&body) {
            Ok(request) => handle(&raft, brokers.as_ref(), request).await,
            Err(e) => RaftResponse::Failed(e.to_string()),
        };
        let frame = encode_frame(&answer).map_err(CallError::Wire)?;
        stream.write_all(&frame).await.map_err(CallError::Io)?;
        stream.flush().await.map_err(CallError::Io)?;
    }
}

/// Accepts the peers' connections on the CONTROLLER `listener` and serves
/// them until `stop` fires (which also closes every connection); brokers'
/// requests go to `brokers`.
pub async fn serve(
    listener: TcpListener,
    raft: MetadataRaft,
    brokers: Option<BrokerRpcHandler>,
    stop: LocalEvent,
) {
    let open = Rc::new(Cell::new(0usize));
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
        let (raft, stop, open) = (raft.clone(), stop.clone(), open.clone());
        let brokers = brokers.clone();
        glommio::spawn_local(async move {
            let served = futures_lite::future::or(serve_connection(stream, raft, brokers), async {
                stop.wait().await;
                Ok(())
            });
            if let Err(e) = served.await {
                log::debug!("metadata quorum connection ended: {e}");
            }
            open.set(open.get() - 1);
        })
        .detach();
    }
}
