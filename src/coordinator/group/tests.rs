use super::*;
use futures_lite::future::block_on;

fn limits() -> GroupLimits {
    GroupLimits {
        initial_rebalance_delay: Duration::ZERO,
        min_session_timeout_ms: 0,
        max_session_timeout_ms: 0,
        max_members: 10,
        offset_metadata_max_bytes: 4096,
    }
}

fn params(member_id: &str) -> JoinParams {
    JoinParams {
        member_id: member_id.to_string(),
        instance_id: None,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: 1000,
        rebalance_timeout_ms: 5000,
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), Bytes::from_static(b"m"))],
        require_known_member_id: true,
    }
}

fn resolve<T>(reply: Reply<T>) -> T {
    match reply {
        Reply::Now(value) => value,
        Reply::Later(rx) => block_on(rx).expect("answered"),
    }
}

/// MEMBER_ID_REQUIRED handshake, then a join that completes at once.
fn join_member(group: &mut Group, now: Instant) -> (String, Reply<JoinGroupResponse>) {
    let first = resolve(group.join(params(""), now, &limits()));
    assert_eq!(first.error_code, error_code::MEMBER_ID_REQUIRED);
    let id = first.member_id.to_string();
    let reply = group.join(params(&id), now, &limits());
    (id, reply)
}

#[test]
fn single_member_joins_syncs_and_heartbeats() {
    let mut group = Group::new("g");
    let now = Instant::now();
    let (id, reply) = join_member(&mut group, now);
    let joined = resolve(reply);
    assert_eq!(joined.error_code, 0);
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.leader.to_string(), id);
    assert_eq!(joined.members.len(), 1);
    let synced = resolve(group.sync(
        MemberRef::dynamic(&id),
        1,
        vec![(id.clone(), Bytes::from_static(b"a"))],
        now,
    ));
    assert_eq!(synced.assignment, Bytes::from_static(b"a"));
    assert_eq!(group.state(), GroupState::Stable);
    assert_eq!(group.heartbeat(MemberRef::dynamic(&id), 1, now), 0);
    assert_eq!(
        group.heartbeat(MemberRef::dynamic(&id), 0, now),
        error_code::ILLEGAL_GENERATION
    );
    assert_eq!(
        group.heartbeat(MemberRef::dynamic("x"), 1, now),
        error_code::UNKNOWN_MEMBER_ID
    );
}

#[test]
fn second_member_triggers_rebalance_and_both_get_the_new_generation() {
    let mut group = Group::new("g");
    let now = Instant::now();
    let (a, reply) = join_member(&mut group, now);
    resolve(reply);
    resolve(group.sync(MemberRef::dynamic(&a), 1, vec![], now));
    let (b, b_reply) = join_member(&mut group, now);
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    assert_eq!(
        group.heartbeat(MemberRef::dynamic(&a), 1, now),
        error_code::REBALANCE_IN_PROGRESS
    );
    let a_joined = resolve(group.join(params(&a), now, &limits()));
    let b_joined = resolve(b_reply);
    assert_eq!(a_joined.generation_id, 2);
    assert_eq!(b_joined.generation_id, 2);
    assert_eq!(a_joined.members.len(), 2, "the leader sees every member");
    assert!(b_joined.members.is_empty());
    let b_sync = group.sync(MemberRef::dynamic(&b), 2, vec![], now);
    resolve(group.sync(
        MemberRef::dynamic(&a),
        2,
        vec![(b.clone(), Bytes::from_static(b"p"))],
        now,
    ));
    assert_eq!(resolve(b_sync).assignment, Bytes::from_static(b"p"));
}

#[test]
fn expired_member_is_removed_and_the_rest_rebalance() {
    let mut group = Group::new("g");
    let now = Instant::now();
    let (a, reply) = join_member(&mut group, now);
    resolve(reply);
    let (b, b_reply) = join_member(&mut group, now);
    let a_reply = group.join(params(&a), now, &limits());
    resolve(a_reply);
    resolve(b_reply);
    let b_sync = group.sync(MemberRef::dynamic(&b), 2, vec![], now);
    resolve(group.sync(MemberRef::dynamic(&a), 2, vec![], now));
    resolve(b_sync);
    let later = now + Duration::from_millis(1500);
    assert_eq!(group.heartbeat(MemberRef::dynamic(&a), 2, later), 0);
    group.tick(later);
    assert!(!group.has_member(&b));
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    let rejoined = resolve(group.join(params(&a), later, &limits()));
    assert_eq!(rejoined.generation_id, 3);
    assert_eq!(rejoined.members.len(), 1);
}

#[test]
fn leave_of_last_member_empties_the_group() {
    let mut group = Group::new("g");
    let now = Instant::now();
    let (a, reply) = join_member(&mut group, now);
    resolve(reply);
    assert_eq!(group.leave(&a, None, now), 0);
    assert_eq!(group.state(), GroupState::Empty);
    assert_eq!(group.leave(&a, None, now), error_code::UNKNOWN_MEMBER_ID);
}

#[test]
fn emptied_group_keeps_its_protocol_type_until_a_new_first_member() {
    let mut group = Group::new("g");
    let now = Instant::now();
    let (a, reply) = join_member(&mut group, now);
    resolve(reply);
    assert_eq!(group.leave(&a, None, now), 0);
    let described = group.describe();
    assert_eq!(described.group_state.to_string(), "Empty");
    assert_eq!(described.protocol_type.to_string(), "consumer");
    let mut connect = params("");
    connect.protocol_type = "connect".into();
    connect.require_known_member_id = false;
    resolve(group.join(connect, now, &limits()));
    assert_eq!(group.protocol_type(), "connect");
}

#[test]
fn described_members_show_client_id_and_host() {
    let mut group = Group::new("g");
    let now = Instant::now();
    let (a, reply) = join_member(&mut group, now);
    resolve(reply);
    resolve(group.sync(MemberRef::dynamic(&a), 1, vec![], now));
    let described = group.describe();
    assert_eq!(described.members.len(), 1);
    let member = &described.members[0];
    assert_eq!(member.member_id.to_string(), a);
    assert_eq!(member.client_id.to_string(), "c");
    assert_eq!(member.client_host.to_string(), "/127.0.0.1");
}

#[test]
fn incompatible_protocols_are_refused() {
    let mut group = Group::new("g");
    let now = Instant::now();
    let (_a, reply) = join_member(&mut group, now);
    resolve(reply);
    let mut other = params("");
    other.protocols = vec![("roundrobin".into(), Bytes::new())];
    let refused = resolve(group.join(other, now, &limits()));
    assert_eq!(refused.error_code, error_code::INCONSISTENT_GROUP_PROTOCOL);
}

#[test]
fn initial_delay_holds_the_first_join_until_tick() {
    let mut group = Group::new("g");
    let now = Instant::now();
    let mut delayed = limits();
    delayed.initial_rebalance_delay = Duration::from_millis(100);
    let first = resolve(group.join(params(""), now, &delayed));
    let id = first.member_id.to_string();
    let reply = group.join(params(&id), now, &delayed);
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    group.tick(now + Duration::from_millis(150));
    assert_eq!(resolve(reply).generation_id, 1);
}

#[test]
fn static_member_rejoining_with_a_new_id_fences_the_old_one() {
    let mut group = Group::new("g");
    let now = Instant::now();
    let mut first = params("");
    first.instance_id = Some("instance-1".into());
    let joined = resolve(group.join(first.clone(), now, &limits()));
    assert_eq!(
        joined.error_code, 0,
        "static members skip MEMBER_ID_REQUIRED"
    );
    let old_id = joined.member_id.to_string();
    resolve(group.sync(MemberRef::dynamic(&old_id), 1, vec![], now));
    let rejoined = resolve(group.join(first, now, &limits()));
    assert_eq!(rejoined.error_code, 0);
    assert_ne!(rejoined.member_id.to_string(), old_id);
    assert!(!group.has_member(&old_id));
    assert_eq!(
        group.heartbeat(MemberRef::dynamic(&old_id), 1, now),
        error_code::UNKNOWN_MEMBER_ID
    );
    let new_id = rejoined.member_id.to_string();
    assert_eq!(group.leave("", Some("instance-1"), now), 0);
    assert!(!group.has_member(&new_id));
}

/// Kafka's ClassicGroup.validateMember: the displaced member, naming its old
/// id with the instance id, is fenced on every API, so it stops instead of
/// rejoining and displacing the new one in turn.
#[test]
fn a_displaced_static_member_is_fenced_on_every_api() {
    let mut group = Group::new("g");
    let now = Instant::now();
    let old_id = resolve(group.join(static_params("i"), now, &limits()))
        .member_id
        .to_string();
    resolve(group.sync(MemberRef::dynamic(&old_id), 1, vec![], now));
    let new_id = resolve(group.join(static_params("i"), now, &limits()))
        .member_id
        .to_string();
    assert_eq!(group.state(), GroupState::Stable);
    let old = MemberRef {
        member_id: &old_id,
        instance_id: Some("i"),
    };
    let fenced = error_code::FENCED_INSTANCE_ID;
    assert_eq!(group.heartbeat(old, 1, now), fenced);
    assert_eq!(resolve(group.sync(old, 1, vec![], now)).error_code, fenced);
    assert_eq!(group.offset_commit_error(&old_id, Some("i"), 1), fenced);
    let mut rejoin = static_params("i");
    rejoin.member_id = old_id.clone();
    assert_eq!(
        resolve(group.join(rejoin, now, &limits())).error_code,
        fenced
    );
    assert_eq!(group.leave(&old_id, Some("i"), now), fenced);

    let new = MemberRef {
        member_id: &new_id,
        instance_id: Some("i"),
    };
    assert_eq!(group.heartbeat(new, 1, now), error_code::NONE);
    assert_eq!(group.offset_commit_error(&new_id, Some("i"), 1), 0);
    let unknown_instance = MemberRef {
        member_id: &new_id,
        instance_id: Some("other"),
    };
    assert_eq!(
        group.heartbeat(unknown_instance, 1, now),
        error_code::UNKNOWN_MEMBER_ID
    );
    assert_eq!(group.leave(&new_id, Some("i"), now), error_code::NONE);
    assert!(group.is_empty());
}

#[test]
fn offset_commits_follow_kafkas_classic_group_rules() {
    let mut group = Group::new("g");
    let now = Instant::now();
    assert_eq!(
        group.offset_commit_error("", None, -1),
        0,
        "empty group, no generation"
    );
    let (a, reply) = join_member(&mut group, now);
    resolve(reply);
    assert_eq!(
        group.offset_commit_error(&a, None, 1),
        error_code::REBALANCE_IN_PROGRESS,
        "commits wait out the sync phase"
    );
    resolve(group.sync(MemberRef::dynamic(&a), 1, vec![], now));
    assert_eq!(group.offset_commit_error(&a, None, 1), 0);
    assert_eq!(
        group.offset_commit_error(&a, None, 0),
        error_code::ILLEGAL_GENERATION
    );
    assert_eq!(
        group.offset_commit_error("x", None, 1),
        error_code::UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        group.offset_commit_error("", None, -1),
        error_code::UNKNOWN_MEMBER_ID,
        "a generation-less commit into an active group"
    );
}

#[test]
fn heartbeats_of_an_old_generation_do_not_extend_the_session() {
    let mut group = Group::new("g");
    let start = Instant::now();
    let (a, reply) = join_member(&mut group, start);
    resolve(reply);
    resolve(group.sync(MemberRef::dynamic(&a), 1, vec![], start));
    let later = start + Duration::from_millis(900);
    let stale = group.heartbeat(MemberRef::dynamic(&a), 0, later);
    assert_eq!(stale, error_code::ILLEGAL_GENERATION);
    group.tick(start + Duration::from_millis(1100));
    assert!(
        !group.has_member(&a),
        "the session ran from the last valid heartbeat"
    );
}

fn static_params(instance: &str) -> JoinParams {
    let mut p = params("");
    p.instance_id = Some(instance.into());
    p.protocols = vec![
        ("range".into(), Bytes::from_static(b"m")),
        ("roundrobin".into(), Bytes::from_static(b"m")),
    ];
    p
}

#[test]
fn static_member_restarting_into_a_stable_group_keeps_its_assignment_without_rebalance() {
    let mut group = Group::new("g");
    let now = Instant::now();
    let a = resolve(group.join(static_params("a"), now, &limits()));
    let a = a.member_id.to_string();
    resolve(group.sync(MemberRef::dynamic(&a), 1, vec![], now));
    let b_reply = group.join(static_params("b"), now, &limits());
    let mut a_rejoin = static_params("a");
    a_rejoin.member_id = a.clone();
    resolve(group.join(a_rejoin, now, &limits()));
    let b = resolve(b_reply).member_id.to_string();
    let b_sync = group.sync(MemberRef::dynamic(&b), 2, vec![], now);
    let assignments = vec![(b.clone(), Bytes::from_static(b"b-parts"))];
    resolve(group.sync(MemberRef::dynamic(&a), 2, assignments, now));
    assert_eq!(resolve(b_sync).assignment, Bytes::from_static(b"b-parts"));

    let restarted = resolve(group.join(static_params("b"), now, &limits()));
    assert_eq!(restarted.error_code, 0);
    assert_eq!(restarted.generation_id, 2, "no new generation");
    assert_eq!(restarted.leader.to_string(), a);
    let new_b = restarted.member_id.to_string();
    assert_ne!(new_b, b);
    assert_eq!(group.state(), GroupState::Stable);
    assert_eq!(
        group.heartbeat(MemberRef::dynamic(&a), 2, now),
        0,
        "the other member is not disturbed"
    );
    assert_eq!(
        group.heartbeat(MemberRef::dynamic(&b), 2, now),
        error_code::UNKNOWN_MEMBER_ID
    );
    let synced = resolve(group.sync(MemberRef::dynamic(&new_b), 2, vec![], now));
    assert_eq!(synced.assignment, Bytes::from_static(b"b-parts"));

    // A restart without the group's protocol (range) changes it: a rebalance.
    let mut without_range = static_params("b");
    without_range.protocols.remove(0);
    let _pending = group.join(without_range, now, &limits());
    assert_eq!(group.state(), GroupState::PreparingRebalance);
}

fn subscription(topics: &[&str]) -> Bytes {
    use bytes::BufMut;
    use kafka_protocol::messages::ConsumerProtocolSubscription;
    use kafka_protocol::protocol::Encodable;
    let topics = topics.iter().map(|t| text(t)).collect();
    let mut out = bytes::BytesMut::new();
    out.put_i16(1);
    ConsumerProtocolSubscription::default()
        .with_topics(topics)
        .encode(&mut out, 1)
        .unwrap();
    out.freeze()
}

#[test]
fn subscription_is_read_from_member_metadata() {
    let mut group = Group::new("g");
    let now = Instant::now();
    assert!(!group.is_subscribed_to("t"));
    let mut join = params("");
    join.require_known_member_id = false;
    join.protocols = vec![("range".into(), subscription(&["t", "u"]))];
    let joined = resolve(group.join(join, now, &limits()));
    assert_eq!(joined.error_code, 0);
    assert!(group.is_subscribed_to("t"));
    assert!(group.is_subscribed_to("u"));
    assert!(!group.is_subscribed_to("v"));
}
