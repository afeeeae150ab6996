//! The client side of the Raft network against a scripted peer over real
//! loopback TCP: a snapshot transfer the peer receives slowly must not hold
//! back heartbeats, and a snapshot travels in bounded chunks.

use super::*;
use crate::cluster::raft::wire::{decode_body, FRAME_HEADER_BYTES};
use openraft::raft::AppendEntriesRequest;
use std::io::{Read, Write};
use std::sync::mpsc;

/// How long the scripted peer takes to acknowledge each snapshot chunk.
const SLOW_CHUNK_MS: u64 = 1_500;
/// A snapshot of three chunks.
const SNAPSHOT_BYTES: usize = 2 * SNAPSHOT_CHUNK_BYTES + 1_000;

fn answer(stream: &mut std::net::TcpStream, response: &RaftResponse) {
    let frame = encode_frame(response).expect("encodable answer");
    stream.write_all(&frame).expect("answer written");
}

/// Serves one connection: AppendEntries at once, each snapshot chunk after
/// [`SLOW_CHUNK_MS`]; reports the byte count of every snapshot frame.
fn scripted_peer(mut stream: std::net::TcpStream, frames: mpsc::Sender<usize>) {
    loop {
        let mut header = [0u8; FRAME_HEADER_BYTES];
        if stream.read_exact(&mut header).is_err() {
            return;
        }
        let mut body = vec![0u8; u32::from_be_bytes(header) as usize];
        stream.read_exact(&mut body).expect("frame body");
        match decode_body::<RaftRequest>(&body).expect("a raft request") {
            RaftRequest::AppendEntries(_) => {
                answer(
                    &mut stream,
                    &RaftResponse::AppendEntries(AppendEntriesResponse::Success),
                );
            }
            RaftRequest::SnapshotChunk {
                vote,
                total_bytes,
                offset,
                data,
                ..
            } => {
                let _ = frames.send(body.len());
                std::thread::sleep(Duration::from_millis(SLOW_CHUNK_MS));
                let next_offset = offset + data.len() as u64;
                if next_offset == total_bytes {
                    answer(
                        &mut stream,
                        &RaftResponse::Snapshot(SnapshotResponse::new(vote)),
                    );
                } else {
                    answer(&mut stream, &RaftResponse::ChunkReceived { next_offset });
                }
            }
            other => panic!("unexpected request {other:?}"),
        }
    }
}

#[test]
fn heartbeats_are_answered_while_a_snapshot_is_being_sent() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let addr = listener.local_addr().expect("address").to_string();
    let (frames_tx, frames) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let frames_tx = frames_tx.clone();
            let stream = stream.expect("accepted");
            std::thread::spawn(move || scripted_peer(stream, frames_tx));
        }
    });
    let outcome = glommio::LocalExecutorBuilder::default()
        .make()
        .expect("executor")
        .run(async move {
            let mut network = ControllerNetwork::new(Duration::from_secs(60));
            let node = BasicNode::new(&addr);
            let mut snapshot_client = network.new_client(2, &node).await;
            let mut heartbeat_client = network.new_client(2, &node).await;
            let vote = Vote::new_committed(1, 1);
            let snapshot = Snapshot {
                meta: Default::default(),
                snapshot: vec![7u8; SNAPSHOT_BYTES],
            };
            let transfer = glommio::spawn_local(async move {
                let never_cancelled = futures_lite::future::pending::<ReplicationClosed>();
                let option = RPCOption::new(Duration::from_secs(10));
                snapshot_client
                    .full_snapshot(vote, snapshot, never_cancelled, option)
                    .await
                    .is_ok()
            })
            .detach();
            // The transfer is under way (its first chunk is being acknowledged).
            glommio::timer::sleep(Duration::from_millis(200)).await;
            let heartbeat = AppendEntriesRequest {
                vote,
                prev_log_id: None,
                entries: Vec::new(),
                leader_commit: None,
            };
            let started = Instant::now();
            let answered = heartbeat_client
                .append_entries(heartbeat, RPCOption::new(Duration::from_millis(1_000)))
                .await;
            let heartbeat_ms = started.elapsed().as_millis();
            let transferred = transfer.await.unwrap_or(false);
            (answered.is_ok(), heartbeat_ms, transferred)
        });
    let (answered, heartbeat_ms, transferred) = outcome;
    assert!(
        answered,
        "a heartbeat during a snapshot transfer must be answered (took {heartbeat_ms} ms)"
    );
    assert!(
        heartbeat_ms < u128::from(SLOW_CHUNK_MS),
        "heartbeat took {heartbeat_ms} ms"
    );
    assert!(transferred, "the snapshot transfer completed");
    let sizes: Vec<usize> = frames.try_iter().collect();
    assert_eq!(sizes.len(), 3, "three chunks: {sizes:?}");
    assert!(
        sizes.iter().all(|s| *s <= SNAPSHOT_CHUNK_BYTES + 1_024),
        "every snapshot frame is bounded by the chunk size: {sizes:?}"
    );
}
