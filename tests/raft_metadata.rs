//! The metadata log on openraft over real loopback TCP and real files:
//! three controller voters, each on its own glommio executor thread, elect a
//! leader, commit metadata record batches and apply the same image; a new
//! leader takes over when the leader stops; a restarted node loads its
//! snapshot and replays the tail; a learner follows the log.

#[path = "raft_metadata/harness.rs"]
mod harness;

use harness::{has_file, topic_batch, wait_until, Quorum};
use millrace::cluster::raft::log_store::METADATA_LOG_DIR_NAME;
use millrace::cluster::raft::node::{NodeError, PROPOSAL_BYTES_MAX};
use millrace::cluster::raft::server::CONTROLLER_CONNECTIONS_MAX;
use millrace::cluster::raft::state_machine::SNAPSHOT_FILE_NAME;
use millrace::cluster::raft::wire::{encode_frame, RaftRequest, FRAME_HEADER_BYTES};
use millrace::cluster::raft::NodeId;
use openraft::raft::VoteRequest;
use openraft::Vote;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// No snapshot during the test (its own tests set one).
const NO_SNAPSHOT: u64 = 1_000_000;

/// Creates topics `{prefix}{i}` for `i` in `range` through `leader`, one
/// batch each, each committed before the next.
fn create_topics(quorum: &Quorum, leader: NodeId, prefix: &str, range: std::ops::Range<i64>) {
    for i in range {
        let outcome = quorum
            .node(leader)
            .propose(topic_batch(&format!("{prefix}{i}")))
            .expect("committed");
        assert_eq!(outcome.error, None);
    }
}

#[test]
fn three_voters_elect_a_leader_commit_and_apply_the_same_image() {
    let mut quorum = Quorum::new("elect", 3, 0, NO_SNAPSHOT);
    quorum.start_all_voters();
    let leader = quorum.wait_for_leader();
    for i in 0..20 {
        let outcome = quorum
            .node(leader)
            .propose(topic_batch(&format!("t{i}")))
            .expect("committed");
        assert_eq!(outcome.base_offset, i, "offsets follow the applied log");
        assert_eq!(outcome.error, None);
    }
    // The image refuses a second topic of one name: refused alike everywhere,
    // the log goes on.
    let refused = quorum
        .node(leader)
        .propose(topic_batch("t0"))
        .expect("committed");
    assert!(
        refused.error.as_deref().unwrap_or("").contains("t0"),
        "{refused:?}"
    );
    assert_eq!(refused.image_offset, 19);
    let image = quorum.wait_for_same_image(19);
    assert!(!image.is_empty());

    // An oversized proposal is refused before it reaches the log.
    let huge = topic_batch(&"x".repeat(PROPOSAL_BYTES_MAX + 1));
    match quorum.node(leader).propose(huge) {
        Err(NodeError::TooLarge(len)) => assert!(len > PROPOSAL_BYTES_MAX),
        other => panic!("an oversized batch must be refused, answered {other:?}"),
    }
    let next = quorum
        .node(leader)
        .propose(topic_batch("t20"))
        .expect("committed");
    assert_eq!(
        next.base_offset, 20,
        "nothing of the refused batch was applied"
    );

    let follower = *quorum
        .voters
        .keys()
        .find(|id| **id != leader)
        .expect("a follower");
    match quorum.node(follower).propose(topic_batch("elsewhere")) {
        Err(NodeError::NotLeader(Some(named))) => assert_eq!(named, leader),
        other => panic!("a follower must refuse and name the leader, answered {other:?}"),
    }
}

#[test]
fn a_new_leader_is_elected_and_commits_after_the_leader_stops() {
    let mut quorum = Quorum::new("failover", 3, 0, NO_SNAPSHOT);
    quorum.start_all_voters();
    let first = quorum.wait_for_leader();
    create_topics(&quorum, first, "before-", 0..5);
    quorum.stop(first);
    let second = quorum.wait_for_leader();
    assert_ne!(second, first);
    let outcome = quorum
        .node(second)
        .propose(topic_batch("after"))
        .expect("committed by the new leader");
    assert_eq!(
        outcome.base_offset, 5,
        "the new leader continues the same log"
    );
    quorum.wait_for_same_image(5);
}

#[test]
fn a_restarted_node_loads_its_snapshot_and_replays_the_tail() {
    let mut quorum = Quorum::new("restart", 3, 0, 10);
    quorum.start_all_voters();
    let leader = quorum.wait_for_leader();
    create_topics(&quorum, leader, "t", 0..35);
    quorum.wait_for_same_image(34);
    let follower = *quorum
        .voters
        .keys()
        .find(|id| **id != leader)
        .expect("a follower");
    let dir = quorum.log_dir(follower).join(METADATA_LOG_DIR_NAME);
    wait_until("the follower took a snapshot and purged its log", || {
        let status = quorum.node(follower).status();
        (status.snapshot.is_some() && status.purged.is_some()).then_some(())
    });
    assert!(has_file(&dir, SNAPSHOT_FILE_NAME));
    quorum.stop(follower);

    // Written while the follower is down: it must catch up after its restart.
    create_topics(&quorum, leader, "t", 35..40);
    quorum.start(follower);
    let recovered = quorum.node(follower).status().recovered_snapshot;
    assert!(
        matches!(recovered, Some(index) if index >= 10),
        "the restarted node starts from its snapshot, found {recovered:?}"
    );
    quorum.wait_for_same_image(39);
}

#[test]
fn a_whole_quorum_restarts_from_its_directories() {
    let mut quorum = Quorum::new("cold", 3, 0, 10);
    quorum.start_all_voters();
    let leader = quorum.wait_for_leader();
    create_topics(&quorum, leader, "t", 0..25);
    let before = quorum.wait_for_same_image(24);
    for id in [1, 2, 3] {
        quorum.stop(id);
    }
    quorum.start_all_voters();
    let leader = quorum.wait_for_leader();
    assert_eq!(
        quorum.wait_for_same_image(24),
        before,
        "the image survives a restart of every node"
    );
    let outcome = quorum
        .node(leader)
        .propose(topic_batch("after"))
        .expect("committed");
    assert_eq!(outcome.base_offset, 25);
}

#[test]
fn a_learner_follows_the_log_without_voting() {
    let mut quorum = Quorum::new("learner", 3, 1, NO_SNAPSHOT);
    quorum.start_all_voters();
    let leader = quorum.wait_for_leader();
    create_topics(&quorum, leader, "t", 0..5);
    quorum.start(4);
    let learner_addr = quorum.addrs[&4].clone();
    quorum
        .node(leader)
        .add_learner(4, &learner_addr)
        .expect("learner added");
    create_topics(&quorum, leader, "t", 5..10);
    quorum.wait_for_same_image(9);
    let status = quorum.node(4).status();
    assert!(!status.is_voter, "node 4 follows as a learner");
    assert_eq!(status.leader, Some(leader));
}

#[test]
fn voters_are_added_and_removed_while_the_quorum_commits() {
    let mut quorum = Quorum::new("membership", 3, 1, NO_SNAPSHOT);
    quorum.start_all_voters();
    let leader = quorum.wait_for_leader();
    create_topics(&quorum, leader, "t", 0..3);

    // AddRaftVoter: node 4 starts outside the quorum and becomes a voter.
    quorum.start(4);
    let addr = quorum.addrs[&4].clone();
    quorum
        .node(leader)
        .add_voter(4, &addr)
        .expect("voter added");
    assert_eq!(quorum.node(leader).status().voters, vec![1, 2, 3, 4]);
    wait_until("node 4 sees itself a voter", || {
        quorum.node(4).status().is_voter.then_some(())
    });
    quorum.voters.insert(4, addr);
    create_topics(&quorum, leader, "t", 3..6);
    quorum.wait_for_same_image(5);

    // RemoveRaftVoter of a follower: the other three go on committing.
    let follower = *quorum
        .voters
        .keys()
        .find(|id| **id != leader && **id != 4)
        .expect("a follower");
    quorum
        .node(leader)
        .remove_voter(follower)
        .expect("voter removed");
    let expected: Vec<NodeId> = (1..=4).filter(|id| *id != follower).collect();
    assert_eq!(quorum.node(leader).status().voters, expected);
    quorum.stop(follower);
    quorum.voters.remove(&follower);
    create_topics(&quorum, leader, "t", 6..8);
    quorum.wait_for_same_image(7);

    // The leader removes itself: it steps down and the two left elect one of them.
    quorum
        .node(leader)
        .remove_voter(leader)
        .expect("leader removed");
    quorum.stop(leader);
    quorum.voters.remove(&leader);
    let next = quorum.wait_for_leader();
    assert_ne!(next, leader);
    assert_eq!(quorum.node(next).status().voters.len(), 2);
    let outcome = quorum
        .node(next)
        .propose(topic_batch("after"))
        .expect("committed by two voters");
    assert_eq!(outcome.base_offset, 8);
}

#[test]
fn a_silent_peer_is_disconnected_and_frees_its_connection_slot() {
    let mut quorum = Quorum::new("deadline", 1, 0, NO_SNAPSHOT);
    quorum.tune = |config| {
        config.peer_idle_timeout_ms = 500;
        config.frame_read_timeout_ms = 500;
    };
    quorum.start_all_voters();
    quorum.wait_for_leader();
    let addr = quorum.addrs[&1].clone();
    // Every slot of the CONTROLLER listener taken by a peer that says nothing,
    // and one more that stops in the middle of a frame.
    let mut silent: Vec<TcpStream> = (0..CONTROLLER_CONNECTIONS_MAX - 1)
        .map(|_| TcpStream::connect(&addr).expect("connect"))
        .collect();
    let mut trickling = TcpStream::connect(&addr).expect("connect");
    trickling
        .write_all(&[0, 0, 0, 100, 1, 2, 3])
        .expect("a partial frame");
    silent.push(trickling);
    for stream in &mut silent {
        assert!(
            closed_within(stream, Duration::from_secs(10)),
            "the listener still holds a connection whose peer went silent"
        );
    }
    // The slots are free again: a real peer is answered.
    let mut peer = TcpStream::connect(&addr).expect("connect");
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let vote = RaftRequest::Vote(VoteRequest::new(Vote::new(1, 7), None));
    peer.write_all(&encode_frame(&vote).expect("frame"))
        .expect("written");
    let mut header = [0u8; FRAME_HEADER_BYTES];
    peer.read_exact(&mut header)
        .expect("an answer after the silent peers were dropped");
}

/// True when the peer closed `stream` (EOF or reset) within `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).expect("timeout");
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

/// Commit latency of one metadata record on a 3-voter loopback quorum and
/// election time after the leader stops, in A/B rounds: A gives openraft
/// exactly the timeouts the node passed through before
/// `NodeConfig::openraft_election_timeouts` (openraft 500..1000 ms, whose
/// lease made elections start 1.5-2 s after the leader's loss), B is the
/// harness's 500..1000 ms as they map now. A measurement, not a test: run
/// with `cargo test --release --test raft_metadata -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_commit_latency_and_election_time() {
    let rounds: usize = std::env::var("RAFT_MEASURE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let mut elections: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    let mut latencies = Vec::new();
    for round in 0..rounds * 2 {
        let old_mapping = round % 2 == 0;
        let mut quorum = Quorum::new("measure", 3, 0, NO_SNAPSHOT);
        if old_mapping {
            // Maps to openraft (500, 1000): what 500..1000 passed through used to be.
            quorum.tune = |config| {
                config.election_timeout_min_ms = 1_500;
                config.election_timeout_max_ms = 2_000;
            };
        }
        quorum.start_all_voters();
        let leader = quorum.wait_for_leader();
        let batches = (0..400)
            .map(|i| topic_batch(&format!("r{round}-t{i}")))
            .collect();
        let mut measured = quorum
            .node(leader)
            .timed_proposals(batches)
            .expect("committed");
        measured.drain(..50); // warm-up
        latencies.extend(measured);
        let stopped = std::time::Instant::now();
        quorum.stop(leader);
        let next = quorum.wait_for_leader();
        quorum
            .node(next)
            .propose(topic_batch("after"))
            .expect("committed");
        elections[usize::from(!old_mapping)].push(stopped.elapsed());
    }
    latencies.sort();
    let pct = |v: &[Duration], p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)];
    println!(
        "commit latency over {} proposals: median {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        pct(&latencies, 0.5),
        pct(&latencies, 0.99),
        latencies[latencies.len() - 1]
    );
    for (name, mut times) in ["A (old mapping)", "B (500..1000 now)"]
        .into_iter()
        .zip(elections)
    {
        times.sort();
        println!(
            "{name}: leader stop -> next commit, {} rounds: median {:?}, min {:?}, max {:?}: {times:?}",
            times.len(),
            pct(&times, 0.5),
            times[0],
            times[times.len() - 1]
        );
    }
}
