//! The broker side: the [`BrokerLifecycle`] driven by a timer, the replies
//! of its requests and the offset the shards adopted; and the topic changes
//! a broker's clients ask for, forwarded to the active controller.

use super::active::now_ms;
use super::rpc::WireReply;
use super::Member;
use crate::cluster::broker::{
    BrokerLifecycle, LifecycleError, LifecycleInput, LifecycleOutput, LifecycleState,
};
use crate::cluster::controller::api::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, NewTopic, Reply, Request,
    RequestId, TopicRef,
};
use crate::metadata::controller::{ControllerRequest, ControllerResponse, TopicOutcome};
use crate::protocol::error_code;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

/// How often the lifecycle looks at time, replies and the applied offset.
const LIFECYCLE_POLL_MS: u64 = 100;
/// Replies waiting for the lifecycle (at most one request is in flight;
/// late replies of abandoned ones are few).
const REPLIES_QUEUED_MAX: usize = 16;
/// Longest a forwarded topic change waits for this broker to apply it.
pub(super) const APPLY_WAIT_MS_MAX: u64 = 10_000;

/// Exit status of a broker the cluster refused.
const EXIT_REFUSED: i32 = 1;
/// How long a controlled shutdown waits once no controller quorum can
/// answer it (the rest of the cluster stopped too): longer than an
/// election (at most `election_timeout_max_ms`, 2 s), so a quorum that is
/// only electing a new leader is still waited for.
const SHUTDOWN_QUORUM_LOST_MS: u64 = 3_000;

/// Runs the broker's lifecycle until it may exit.
pub(super) async fn run(member: Rc<Member>) {
    let mut lifecycle = BrokerLifecycle::new(member.config.lifecycle.clone(), now_ms());
    // Logs were recovered before the node started: ready once caught up.
    lifecycle.handle(now_ms(), LifecycleInput::ReadyToUnfence);
    let replies: Rc<RefCell<VecDeque<Answer>>> = Rc::default();
    let last_error: Rc<RefCell<Option<String>>> = Rc::default();
    let failed_calls: Rc<Cell<u32>> = Rc::default();
    let mut shutdown_begun = false;
    let mut quorum_lost_since: Option<u64> = None;
    loop {
        let now = now_ms();
        let offset = member.published_offset.get();
        let mut outputs = lifecycle.handle(now, LifecycleInput::MetadataApplied { offset });
        let arrived: Vec<_> = replies.borrow_mut().drain(..).collect();
        for (id, answer) in arrived {
            let input = match answer {
                Some(reply) => LifecycleInput::Reply { id, reply },
                None => LifecycleInput::CallFailed { id },
            };
            outputs.extend(lifecycle.handle(now, input));
        }
        if member.shutdown_requested.get() && !shutdown_begun {
            shutdown_begun = true;
            outputs.extend(lifecycle.handle(now, LifecycleInput::BeginShutdown));
        }
        outputs.extend(lifecycle.handle(now, LifecycleInput::Tick));
        member
            .broker_epoch
            .set(lifecycle.broker_epoch().unwrap_or(-1));
        if shutdown_begun {
            let lost = member.quorum_lost(failed_calls.get() > 0);
            quorum_lost_since = lost.and(quorum_lost_since.or(Some(now)));
            if let (Some(why), Some(since)) = (lost, quorum_lost_since) {
                if now.saturating_sub(since) >= SHUTDOWN_QUORUM_LOST_MS {
                    log::warn!(
                        "controlled shutdown: no controller quorum can answer ({why}) for \
                         {SHUTDOWN_QUORUM_LOST_MS} ms; stopping without moving leaderships"
                    );
                    member.shutdown_done.fire();
                    return;
                }
            }
        }
        for output in outputs {
            match output {
                LifecycleOutput::Send { id, request } => {
                    send(&member, id, request, &replies, &last_error, &failed_calls)
                }
                LifecycleOutput::StateChanged(LifecycleState::Failed(error)) => {
                    refuse(&member, error, last_error.borrow().as_deref())
                }
                LifecycleOutput::StateChanged(state) => {
                    log::info!("broker {}: {state:?}", member.config.node_id)
                }
                LifecycleOutput::Exit => {
                    member.exited_epoch.set(lifecycle.clean_shutdown_epoch());
                    member.shutdown_done.fire();
                    return;
                }
            }
        }
        if member.stop.is_fired() {
            member.shutdown_done.fire();
            return;
        }
        glommio::timer::sleep(Duration::from_millis(LIFECYCLE_POLL_MS)).await;
    }
}

/// A controller's reply to a lifecycle request, or `None` when no
/// controller answered it.
type Answer = (RequestId, Option<Reply>);

fn send(
    member: &Rc<Member>,
    id: RequestId,
    request: Request,
    replies: &Rc<RefCell<VecDeque<Answer>>>,
    last_error: &Rc<RefCell<Option<String>>>,
    failed_calls: &Rc<Cell<u32>>,
) {
    let (member, replies, last_error) = (member.clone(), replies.clone(), last_error.clone());
    let failed_calls = failed_calls.clone();
    glommio::spawn_local(async move {
        match member.call_controller(&request).await {
            Ok((reply, _)) => {
                failed_calls.set(0);
                if let Some(reply) = reply.into_lifecycle_reply() {
                    queue_answer(&replies, (id, Some(reply)));
                }
            }
            Err(e) => {
                log::debug!(
                    "broker {}: controller call failed: {e}",
                    member.config.node_id
                );
                *last_error.borrow_mut() = Some(e);
                failed_calls.set(failed_calls.get().saturating_add(1));
                queue_answer(&replies, (id, None));
            }
        }
    })
    .detach();
}

fn queue_answer(replies: &RefCell<VecDeque<Answer>>, answer: Answer) {
    let mut queue = replies.borrow_mut();
    if queue.len() < REPLIES_QUEUED_MAX {
        queue.push_back(answer);
    }
}

/// The cluster will not have this broker: say why, naming the key, and exit.
fn refuse(member: &Member, error: LifecycleError, last_error: Option<&str>) -> ! {
    let config = &member.config;
    let why = match error {
        LifecycleError::InconsistentClusterId => format!(
            "cluster.id: this node's cluster id {} (meta.properties in log.dirs {}) is not the \
             cluster id of the controllers at controller.quorum.voters; point log.dirs at this \
             cluster's data or the quorum keys at this node's cluster",
            config.cluster_id,
            config.log_dir.display()
        ),
        LifecycleError::DuplicateBrokerId => format!(
            "node.id: another live broker is registered with node.id {}; give each broker its \
             own node.id",
            config.node_id
        ),
        LifecycleError::RegistrationTimedOut => format!(
            "{}: no active controller accepted this broker's registration \
             within initial.broker.registration.timeout.ms ({} ms); check that the controllers \
             {:?} are running and reachable (last error: {})",
            config.quorum_key(),
            config.lifecycle.initial_registration_timeout_ms,
            config.controller_addrs(),
            last_error.unwrap_or("none")
        ),
    };
    log::error!("{why}");
    eprintln!("millrace serve: {why}");
    log::logger().flush();
    std::process::exit(EXIT_REFUSED)
}

impl Member {
    /// Why no controller quorum can answer now, or `None` while one may:
    /// this node leads but no majority acknowledged it lately; no leader is
    /// known (an election without a majority); or the last call found no
    /// controller answering at any address (`last_call_failed`).
    fn quorum_lost(&self, last_call_failed: bool) -> Option<&'static str> {
        let metrics = self.node.metrics();
        if metrics.state == openraft::ServerState::Leader {
            let acked = metrics.last_quorum_acked.map(|at| at.elapsed());
            let silent = Duration::from_millis(SHUTDOWN_QUORUM_LOST_MS);
            return match acked {
                Some(elapsed) if elapsed < silent => None,
                _ => Some("no majority of voters acknowledges this leader"),
            };
        }
        if metrics.current_leader.is_none() {
            return Some("no leader of the metadata quorum is known");
        }
        last_call_failed.then_some("no controller answered at any address")
    }

    /// A topic change asked by this broker's clients, carried out by the
    /// active controller; answers once this broker applied it.
    pub async fn topic_change(&self, request: ControllerRequest) -> ControllerResponse {
        if let ControllerRequest::AlterTopicConfigs {
            changes,
            validate_only,
        } = &request
        {
            return self.alter_topic_configs(changes, *validate_only).await;
        }
        let (forwarded, if_missing) = match to_cluster_request(&request) {
            Ok(converted) => converted,
            Err(message) => return self.refused(&request, error_code::INVALID_REQUEST, message),
        };
        match self.call_controller(&forwarded).await {
            Ok((WireReply::Topics(results), offset)) => {
                self.wait_published(offset, APPLY_WAIT_MS_MAX).await;
                let outcomes = results
                    .into_iter()
                    .map(|(name, code)| {
                        let exists = code == error_code::TOPIC_ALREADY_EXISTS;
                        TopicOutcome {
                            name,
                            error_code: if exists && if_missing {
                                error_code::NONE
                            } else {
                                code
                            },
                            message: None,
                        }
                    })
                    .collect();
                ControllerResponse {
                    outcomes,
                    table: self.table(),
                }
            }
            Ok(_) => self.refused(
                &request,
                error_code::UNKNOWN_SERVER_ERROR,
                "unexpected controller reply".into(),
            ),
            Err(e) => {
                log::warn!("topic change not carried out: {e}");
                self.refused(&request, error_code::NOT_CONTROLLER, e)
            }
        }
    }

    pub(super) fn table(&self) -> std::sync::Arc<crate::metadata::topic_table::TopicTable> {
        self.view().map(|v| v.table.clone()).unwrap_or_default()
    }

    fn refused(
        &self,
        request: &ControllerRequest,
        code: i16,
        message: String,
    ) -> ControllerResponse {
        let mut response = crate::metadata::controller::failed_response(self.table(), request);
        for outcome in &mut response.outcomes {
            outcome.error_code = code;
            outcome.message = Some(message.clone());
        }
        response
    }
}

/// The controller request for a topic change, and whether an existing
/// topic is fine (auto-creation); `Err` for changes not served in a cluster.
fn to_cluster_request(request: &ControllerRequest) -> Result<(Request, bool), String> {
    Ok(match request {
        ControllerRequest::CreateTopics {
            topics,
            validate_only,
            if_missing,
        } => (
            Request::CreateTopics(CreateTopicsRequest {
                topics: topics
                    .iter()
                    .map(|t| NewTopic {
                        name: t.name.clone(),
                        num_partitions: t.partitions,
                        replication_factor: t.replication_factor,
                        configs: t.configs.clone(),
                        assignments: t.assignments.clone(),
                    })
                    .collect(),
                validate_only: *validate_only,
            }),
            *if_missing,
        ),
        ControllerRequest::DeleteTopics { names, ids } => {
            // Names, then ids: the order of the outcomes the handler reads.
            let names = names.iter().cloned().map(TopicRef::Name);
            let ids = ids.iter().copied().map(TopicRef::Id);
            let topics = names.chain(ids).collect();
            (Request::DeleteTopics(DeleteTopicsRequest { topics }), false)
        }
        ControllerRequest::CreatePartitions {
            topics,
            validate_only,
        } => (
            Request::CreatePartitions(CreatePartitionsRequest {
                topics: topics.clone(),
                validate_only: *validate_only,
            }),
            false,
        ),
        ControllerRequest::AlterTopicConfigs { .. } => {
            return Err("topic configs go through Member::alter_topic_configs".into())
        }
    })
}
