//! ElectLeaders (key 43): preferred or unclean leader elections asked by an
//! operator (`kafka-leader-election.sh`, the Admin client's `electLeaders`).
//! In a cluster the request goes to the active controller, which commits
//! the new leaders before it answers; the answer comes once this broker
//! applied them. Asked for every partition (a null list), partitions whose
//! election is not needed are left out of the answer, as Kafka does. A single
//! node's partitions have one replica, already leading: ELECTION_NOT_NEEDED.

use super::{error_code, respond, RequestMeta, VersionRange};
use crate::cluster::controller::api::{ElectLeadersRequest as Election, ElectionType};
use crate::cluster::TopicIdPartition;
use crate::metadata::topic_table::TopicTable;
use crate::protocol::piece::Piece;
use crate::shard::calls::cluster::elect_leaders;
use crate::shard::ShardContext;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

/// Versions served.
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 2 };
/// Kafka's ELECTION_NOT_NEEDED.
const ELECTION_NOT_NEEDED: i16 = 84;
/// `ElectionType` of v1+: 1 is unclean, 0 preferred.
const ELECTION_TYPE_UNCLEAN: i8 = 1;

/// Per topic name, per partition: the error code.
type Results = BTreeMap<String, Vec<(i32, i16)>>;

/// Answers an ElectLeaders request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: ElectLeadersRequest,
) -> Option<Vec<Piece>> {
    let table = ctx.topic_table();
    let mut results = Results::new();
    let mut asked = Vec::new();
    for topic in request.topic_partitions.iter().flatten() {
        let name = topic.topic.0.to_string();
        let known = table.get(&name);
        for &partition in &topic.partitions {
            match known.filter(|t| (0..t.partitions).contains(&partition)) {
                Some(t) if ctx.cluster.enabled => asked.push(TopicIdPartition {
                    topic_id: t.id,
                    partition,
                }),
                Some(_) => results
                    .entry(name.clone())
                    .or_default()
                    .push((partition, ELECTION_NOT_NEEDED)),
                None => results
                    .entry(name.clone())
                    .or_default()
                    .push((partition, error_code::UNKNOWN_TOPIC_OR_PARTITION)),
            }
        }
    }
    let all = request.topic_partitions.is_none();
    let mut top_error = error_code::NONE;
    if ctx.cluster.enabled && (all || !asked.is_empty()) {
        let election = Election {
            election: if request.election_type == ELECTION_TYPE_UNCLEAN {
                ElectionType::Unclean
            } else {
                ElectionType::Preferred
            },
            partitions: (!all).then(|| asked.clone()),
        };
        match elect_leaders(ctx, election).await {
            Ok(outcomes) => add_outcomes(&mut results, &table, outcomes, all),
            Err(code) => {
                top_error = code;
                let failed = asked.iter().map(|tp| (*tp, code)).collect();
                add_outcomes(&mut results, &table, failed, false);
            }
        }
    }
    respond(meta, &response(results, top_error, meta.version))
}

/// Adds the controller's outcomes under their topic names; `all` leaves out
/// the partitions that needed no election.
fn add_outcomes(
    results: &mut Results,
    table: &TopicTable,
    outcomes: Vec<(TopicIdPartition, i16)>,
    all: bool,
) {
    let mut names = HashMap::new();
    for (tp, code) in outcomes {
        if all && code == ELECTION_NOT_NEEDED {
            continue;
        }
        let name = names
            .entry(tp.topic_id)
            .or_insert_with(|| table.get_by_id(&tp.topic_id).map(|t| t.name.clone()));
        if let Some(name) = name {
            results
                .entry(name.clone())
                .or_default()
                .push((tp.partition, code));
        }
    }
}

fn response(results: Results, top_error: i16, version: i16) -> ElectLeadersResponse {
    let replica_election_results = results
        .into_iter()
        .map(|(name, partitions)| {
            ReplicaElectionResult::default()
                .with_topic(TopicName(StrBytes::from_string(name)))
                .with_partition_result(
                    partitions
                        .into_iter()
                        .map(|(partition, code)| {
                            PartitionResult::default()
                                .with_partition_id(partition)
                                .with_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    let response =
        ElectLeadersResponse::default().with_replica_election_results(replica_election_results);
    // v0 has no top-level error: the partitions carry it.
    if version >= 1 {
        response.with_error_code(top_error)
    } else {
        response
    }
}
