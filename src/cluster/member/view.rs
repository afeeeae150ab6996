//! What every shard of a cluster member sees of the cluster: an immutable
//! snapshot built on shard 0 from the applied metadata image and the Raft
//! state, sent whole to each shard (no shard reads another's memory).

use crate::cluster::image::MetadataImage;
use crate::cluster::records::ConfigResource;
use crate::cluster::BrokerId;
use crate::coordinator::offsets::partitions::{partition_for_group, OFFSETS_TOPIC};
use crate::metadata::topic_table::{TopicMeta, TopicTable};
use crate::metrics::replication::ReplicationCounts;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// One registered broker, as clients are told of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerView {
    /// `node.id`.
    pub id: BrokerId,
    /// Advertised host of the client listener.
    pub host: String,
    /// Advertised port of the client listener.
    pub port: u16,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// Fenced (or shutting down): listed to no client.
    pub fenced: bool,
    /// The endpoint of `inter.broker.listener.name` as the broker advertised
    /// it in its registration (host, port): followers fetch from it, so a
    /// test may put a proxy between brokers by advertising the proxy.
    pub inter_broker: (String, u16),
    /// Its broker epoch (Fetch's ReplicaState).
    pub epoch: i64,
    /// Every endpoint it registered, (listener name, host, port): a client
    /// is told the endpoints of the listener it connected to.
    pub endpoints: Vec<(String, String, u16)>,
}

impl BrokerView {
    /// The advertised (host, port) of listener `name`, else of the client
    /// listener (a broker registered without that listener).
    pub fn endpoint_for(&self, name: &str) -> (&str, u16) {
        self.endpoints
            .iter()
            .find(|(listener, _, _)| listener == name)
            .map_or((self.host.as_str(), self.port), |(_, host, port)| {
                (host.as_str(), *port)
            })
    }
}

/// One partition's placement and leadership.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionView {
    /// The leader, or -1.
    pub leader: BrokerId,
    /// Leader epoch.
    pub leader_epoch: i32,
    /// Bumped at every change of the partition: AlterPartition's
    /// compare-and-set version.
    pub partition_epoch: i32,
    /// Replicas, preferred first.
    pub replicas: Vec<BrokerId>,
    /// In-sync replicas.
    pub isr: Vec<BrokerId>,
    /// Replicas a reassignment in flight adds (KIP-455).
    pub adding: Vec<BrokerId>,
    /// Replicas a reassignment in flight removes (KIP-455).
    pub removing: Vec<BrokerId>,
}

/// One member of the metadata quorum as DescribeQuorum reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumReplica {
    /// `node.id`.
    pub id: BrokerId,
    /// The last log index the leader knows it holds (-1: unknown).
    pub log_end_offset: i64,
}

/// The metadata quorum's state as this node knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuorumView {
    /// The Raft leader, if known.
    pub leader: Option<BrokerId>,
    /// The Raft term (KRaft's leader epoch).
    pub term: i64,
    /// The committed log index (KRaft's high watermark), or -1.
    pub high_watermark: i64,
    /// Voters.
    pub voters: Vec<QuorumReplica>,
    /// Learners (KRaft's observers).
    pub observers: Vec<QuorumReplica>,
}

/// The cluster as one node sees it at one metadata offset.
#[derive(Clone, Debug)]
pub struct ClusterView {
    /// The metadata offset applied.
    pub offset: i64,
    /// This node's `node.id`.
    pub node_id: BrokerId,
    /// True once the image holds this process's own registration (its
    /// incarnation id). Until then the leaderships the image names for
    /// `node_id` are those of a crashed or stopped process: the controller
    /// gives them new leader epochs (fencing, unclean shutdown) before it
    /// registers this one.
    pub registered: bool,
    /// Every registered broker, by id.
    pub brokers: Vec<BrokerView>,
    /// Partitions by topic id, index = partition.
    pub partitions: HashMap<Uuid, Vec<PartitionView>>,
    /// The metadata quorum.
    pub quorum: QuorumView,
    /// The topics, for the shards' topic tables.
    pub table: Arc<TopicTable>,
}

impl ClusterView {
    /// The view of `image` for the process `incarnation_id` of `node_id`,
    /// advertising each broker's `listeners.0` endpoint (the client
    /// listener) to clients and its `listeners.1` one
    /// (`inter.broker.listener.name`) to followers.
    pub fn build(
        image: &MetadataImage,
        (node_id, incarnation_id): (BrokerId, Uuid),
        listeners: (&str, &str),
        quorum: QuorumView,
    ) -> Self {
        let brokers = image
            .brokers()
            .map(|b| {
                let endpoint_of = |name: &str| {
                    let found = b.endpoints.iter().find(|e| e.name == name);
                    found
                        .or_else(|| b.endpoints.first())
                        .map_or((String::new(), 0), |e| (e.host.clone(), e.port))
                };
                let (host, port) = endpoint_of(listeners.0);
                BrokerView {
                    id: b.broker_id,
                    host,
                    port,
                    rack: b.rack.clone(),
                    fenced: !b.is_active(),
                    inter_broker: endpoint_of(listeners.1),
                    epoch: b.broker_epoch,
                    endpoints: b
                        .endpoints
                        .iter()
                        .map(|e| (e.name.clone(), e.host.clone(), e.port))
                        .collect(),
                }
            })
            .collect();
        let mut partitions = HashMap::new();
        let mut topics = Vec::new();
        for topic in image.topics() {
            let views = topic
                .partitions
                .iter()
                .map(|p| PartitionView {
                    leader: p.leader.unwrap_or(-1),
                    leader_epoch: p.leader_epoch,
                    partition_epoch: p.partition_epoch,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                    adding: p.adding.clone(),
                    removing: p.removing.clone(),
                })
                .collect();
            partitions.insert(topic.topic_id, views);
            let configs = image
                .configs_of(&ConfigResource::Topic(topic.name.clone()))
                .cloned()
                .unwrap_or_default();
            topics.push(TopicMeta {
                name: topic.name.clone(),
                id: topic.topic_id,
                partitions: topic.partitions.len() as i32,
                configs,
            });
        }
        // Versions only rise with the offset; +1 so offset -1 is version 0.
        let version = (image.offset() + 1).max(0) as u64;
        let registered = image
            .broker(node_id)
            .is_some_and(|b| b.incarnation_id == incarnation_id);
        ClusterView {
            offset: image.offset(),
            node_id,
            registered,
            brokers,
            partitions,
            quorum,
            table: Arc::new(TopicTable::from_topics(version, topics)),
        }
    }

    /// One partition, by topic id.
    pub fn partition(&self, topic_id: &Uuid, partition: i32) -> Option<&PartitionView> {
        self.partitions
            .get(topic_id)?
            .get(usize::try_from(partition).ok()?)
    }

    /// True when this node holds a replica of the partition.
    pub fn is_local_replica(&self, topic_id: &Uuid, partition: i32) -> bool {
        self.partition(topic_id, partition)
            .is_some_and(|p| p.replicas.contains(&self.node_id))
    }

    /// True when this node leads the partition (as this process: see
    /// [`ClusterView::acting_leader`]).
    pub fn leads(&self, topic_id: &Uuid, partition: i32) -> bool {
        self.partition(topic_id, partition)
            .is_some_and(|p| self.acting_leader(p.leader) == self.node_id)
    }

    /// This process's broker epoch, as its followers send it in Fetch
    /// (`ReplicaState.ReplicaEpoch`, KIP-903): -1 until the image holds this
    /// process's registration, as Kafka's broker sends -1 before it is
    /// registered. The image's entry for this node until then is a previous
    /// process's: a leader that passed it on in AlterPartition (KIP-903's
    /// check) would vouch for a process that is gone.
    pub fn own_broker_epoch(&self) -> i64 {
        match self.registered {
            true => self.broker(self.node_id).map_or(-1, |b| b.epoch),
            false => -1,
        }
    }

    /// The leader to act on for a partition the image says `leader` leads.
    /// Before this process is registered, the leaderships the image names
    /// for this node are its crashed incarnation's, at epochs whose unsynced
    /// tail this log may have lost while the followers kept it: leading
    /// again at such an epoch lets them append a different history after
    /// theirs with no divergence to see (Jepsen's duplicate), and
    /// coordinating the groups of such an offsets partition answers from a
    /// state that is no longer the group's (issue 13). As in Kafka, it leads
    /// only at an epoch the controller gives it once registered; until then
    /// it leads nothing (-1).
    pub fn acting_leader(&self, leader: BrokerId) -> BrokerId {
        match leader == self.node_id && !self.registered {
            true => -1,
            false => leader,
        }
    }

    /// What replication looks like in this view, and what changed since
    /// `previous` (this node's replication metrics): led partitions with an
    /// ISR smaller than their replicas, leaderless partitions, ISR members
    /// removed from or added to partitions this node leads, and leader
    /// changes (a new leader epoch with a leader).
    pub fn replication_counts(&self, previous: Option<&ClusterView>) -> ReplicationCounts {
        let mut counts = ReplicationCounts::default();
        for (topic_id, partitions) in &self.partitions {
            let before = previous.and_then(|p| p.partitions.get(topic_id));
            for (index, p) in partitions.iter().enumerate() {
                // A restarted incarnation leads nothing of its crashed one's
                // until it registers.
                let leads = self.acting_leader(p.leader) == self.node_id;
                counts.under_replicated += (leads && p.isr.len() < p.replicas.len()) as u64;
                counts.offline += (p.leader < 0) as u64;
                let Some(old) = before.and_then(|b| b.get(index)) else {
                    continue;
                };
                counts.elections += (p.leader >= 0 && p.leader_epoch > old.leader_epoch) as u64;
                if leads {
                    counts.shrinks += old.isr.iter().any(|r| !p.isr.contains(r)) as u64;
                    counts.expands += p.isr.iter().any(|r| !old.isr.contains(r)) as u64;
                }
            }
        }
        counts
    }

    /// A registered broker.
    pub fn broker(&self, id: BrokerId) -> Option<&BrokerView> {
        self.brokers.iter().find(|b| b.id == id)
    }

    /// Brokers clients may use: registered and unfenced.
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerView> {
        self.brokers.iter().filter(|b| !b.fenced)
    }

    /// The broker clients should send admin requests to: this broker when
    /// it is live (every broker forwards them to the active controller, and
    /// a dead Raft leader may still look live until its session times
    /// out), else the Raft leader when live, else the lowest live broker.
    /// KRaft answers clients with a live broker too, never a controller.
    pub fn controller_for_clients(&self) -> BrokerId {
        let live = |id: BrokerId| self.live_brokers().any(|b| b.id == id);
        if live(self.node_id) {
            return self.node_id;
        }
        match self.quorum.leader {
            Some(leader) if live(leader) => leader,
            _ => self.live_brokers().map(|b| b.id).next().unwrap_or(-1),
        }
    }

    /// The leader of offsets partition `index` of `__consumer_offsets` and
    /// its leader epoch, when the topic exists and the partition has a live
    /// leader (never this node's dead incarnation: see
    /// [`ClusterView::acting_leader`]).
    pub fn offsets_leader(&self, index: i32) -> Option<(BrokerId, i32)> {
        let topic = self.table.get(OFFSETS_TOPIC)?;
        let partition = self.partition(&topic.id, index)?;
        let leader = self.acting_leader(partition.leader);
        let live = self.live_brokers().any(|b| b.id == leader);
        live.then_some((leader, partition.leader_epoch))
    }

    /// The partition count groups are placed by: that of `__consumer_offsets`
    /// as created, once it exists (Kafka's coordinator takes
    /// `metadataCache.numPartitions(__consumer_offsets)`), else `configured`
    /// (`offsets.topic.num.partitions`, which it will be created with).
    pub fn offsets_partitions(&self, configured: usize) -> usize {
        self.table
            .get(OFFSETS_TOPIC)
            .and_then(|topic| usize::try_from(topic.partitions).ok())
            .filter(|&count| count > 0)
            .unwrap_or(configured)
    }

    /// The broker coordinating `group`: the leader of its partition of
    /// `__consumer_offsets` (of [`ClusterView::offsets_partitions`]), as in
    /// Kafka; the coordinator moves with that leadership. `None` while the
    /// topic does not exist or the partition has no live leader.
    pub fn group_coordinator(&self, group: &str, configured: usize) -> Option<BrokerId> {
        let index = partition_for_group(group, self.offsets_partitions(configured));
        self.offsets_leader(index).map(|(leader, _)| leader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::records::{BrokerRegistration, Endpoint, MetadataRecord};

    fn broker(id: BrokerId, fenced: bool) -> BrokerView {
        BrokerView {
            id,
            host: "127.0.0.1".into(),
            port: 9000 + id as u16,
            rack: None,
            fenced,
            inter_broker: ("127.0.0.1".into(), 9000 + id as u16),
            epoch: 0,
            endpoints: Vec::new(),
        }
    }

    fn view(brokers: Vec<BrokerView>, leader: Option<BrokerId>) -> ClusterView {
        ClusterView {
            offset: 0,
            node_id: 1,
            registered: true,
            brokers,
            partitions: HashMap::new(),
            quorum: QuorumView {
                leader,
                ..QuorumView::default()
            },
            table: Arc::new(TopicTable::default()),
        }
    }

    /// A partition of replicas 1, 2, 3.
    fn partition(leader: BrokerId, leader_epoch: i32, isr: &[BrokerId]) -> PartitionView {
        PartitionView {
            leader,
            leader_epoch,
            partition_epoch: 0,
            replicas: vec![1, 2, 3],
            isr: isr.to_vec(),
            adding: Vec::new(),
            removing: Vec::new(),
        }
    }

    #[test]
    fn own_broker_epoch_is_unknown_until_this_process_is_registered() {
        let mut registered = view(vec![broker(1, false)], None);
        registered.brokers[0].epoch = 7;
        assert_eq!(registered.own_broker_epoch(), 7);
        // The image still names a previous process's registration (epoch 7).
        let restarted = ClusterView {
            registered: false,
            ..registered
        };
        assert_eq!(restarted.own_broker_epoch(), -1);
        let absent = view(vec![broker(2, false)], None);
        assert_eq!(absent.own_broker_epoch(), -1);
    }

    #[test]
    fn replication_counts_follow_isr_and_leader_changes() {
        let topic = Uuid::new_v4();
        let mut before = view(Vec::new(), None);
        before.partitions.insert(
            topic,
            vec![
                partition(1, 0, &[1, 2, 3]),
                partition(1, 0, &[1, 2]),
                partition(2, 0, &[2, 3]),
                partition(3, 0, &[3, 1, 2]),
            ],
        );
        let mut after = view(Vec::new(), None);
        after.partitions.insert(
            topic,
            vec![
                partition(1, 0, &[1, 3]),    // led here: shrink, under-replicated
                partition(1, 0, &[1, 2, 3]), // led here: expansion
                partition(2, 0, &[2]),       // led elsewhere: not counted
                partition(-1, 1, &[3]),      // offline, no election
            ],
        );
        let first = before.replication_counts(None);
        assert_eq!(
            first,
            ReplicationCounts {
                under_replicated: 1,
                ..ReplicationCounts::default()
            }
        );
        let changed = after.replication_counts(Some(&before));
        assert_eq!(
            changed,
            ReplicationCounts {
                under_replicated: 1,
                offline: 1,
                shrinks: 1,
                expands: 1,
                elections: 0,
            }
        );
        let mut elected = view(Vec::new(), None);
        elected.partitions.insert(
            topic,
            vec![partition(3, 1, &[3]), partition(1, 0, &[1, 2, 3])],
        );
        let counts = elected.replication_counts(Some(&after));
        assert_eq!((counts.elections, counts.shrinks), (1, 0));
    }

    #[test]
    fn a_restarted_incarnation_counts_none_of_its_crashed_ones_leaderships() {
        // A node restarted after kill -9 adopts the committed image at once:
        // partitions still name it leader, at its crashed incarnation's
        // epochs. Until it registers it leads none of them (acting_leader),
        // so none is its under-replicated partition or ISR change.
        let topic = Uuid::new_v4();
        let mut before = view(Vec::new(), None);
        before.registered = false;
        before
            .partitions
            .insert(topic, vec![partition(1, 0, &[1, 2, 3])]);
        let mut after = view(Vec::new(), None);
        after.registered = false;
        after.partitions.insert(topic, vec![partition(1, 0, &[1])]);
        assert_eq!(
            after.replication_counts(Some(&before)),
            ReplicationCounts::default()
        );
    }

    #[test]
    fn the_group_coordinator_is_the_live_leader_of_its_offsets_partition() {
        let mut all = view(
            vec![broker(1, false), broker(2, false), broker(3, false)],
            None,
        );
        assert!(all.group_coordinator("orders", 3).is_none());
        let id = Uuid::new_v4();
        let meta = TopicMeta {
            name: OFFSETS_TOPIC.into(),
            id,
            partitions: 3,
            configs: Default::default(),
        };
        all.table = Arc::new(TopicTable::from_topics(1, [meta]));
        let led = |leader| PartitionView {
            leader,
            leader_epoch: 4,
            partition_epoch: 0,
            replicas: vec![1, 2, 3],
            isr: vec![1, 2, 3],
            adding: Vec::new(),
            removing: Vec::new(),
        };
        all.partitions.insert(id, vec![led(1), led(2), led(3)]);
        // "orders" is in partition abs(-1008770331) % 3 = 0.
        assert_eq!(all.group_coordinator("orders", 3), Some(1));
        assert_eq!(all.offsets_leader(1), Some((2, 4)));
        all.brokers[0].fenced = true;
        assert!(all.group_coordinator("orders", 3).is_none());
        all.partitions.insert(id, vec![led(-1), led(2), led(3)]);
        assert!(all.group_coordinator("orders", 3).is_none());
    }

    #[test]
    fn an_unregistered_process_leads_nothing_and_coordinates_no_group() {
        // Node 1 restarted: the image still names its dead incarnation.
        let mut restarted = view(vec![broker(1, false), broker(2, false)], None);
        restarted.registered = false;
        let id = Uuid::new_v4();
        let meta = TopicMeta {
            name: OFFSETS_TOPIC.into(),
            id,
            partitions: 2,
            configs: Default::default(),
        };
        restarted.table = Arc::new(TopicTable::from_topics(1, [meta]));
        let led = |leader| PartitionView {
            leader,
            leader_epoch: 4,
            partition_epoch: 0,
            replicas: vec![1, 2],
            isr: vec![1, 2],
            adding: Vec::new(),
            removing: Vec::new(),
        };
        restarted.partitions.insert(id, vec![led(1), led(2)]);
        assert!(!restarted.leads(&id, 0));
        assert_eq!(restarted.offsets_leader(0), None);
        assert_eq!(restarted.offsets_leader(1), Some((2, 4)), "others lead on");
        assert_eq!(restarted.acting_leader(2), 2);
        restarted.registered = true;
        assert!(restarted.leads(&id, 0));
        assert_eq!(restarted.offsets_leader(0), Some((1, 4)));
    }

    #[test]
    fn clients_see_a_live_controller() {
        let v = view(vec![broker(1, true), broker(2, false)], Some(1));
        assert_eq!(v.controller_for_clients(), 2);
        let v = view(vec![broker(1, false), broker(2, false)], Some(2));
        assert_eq!(v.controller_for_clients(), 1);
        let v = view(
            vec![broker(1, true), broker(2, false), broker(3, false)],
            Some(3),
        );
        assert_eq!(v.controller_for_clients(), 3);
    }

    fn image_with(broker_id: BrokerId, incarnation_id: Uuid) -> MetadataImage {
        image_with_endpoints(broker_id, incarnation_id, Vec::new())
    }

    fn image_with_endpoints(
        broker_id: BrokerId,
        incarnation_id: Uuid,
        endpoints: Vec<Endpoint>,
    ) -> MetadataImage {
        let mut image = MetadataImage::new();
        let registration = BrokerRegistration {
            broker_id,
            incarnation_id,
            broker_epoch: 0,
            endpoints,
            rack: None,
            fenced: true,
            in_controlled_shutdown: false,
        };
        let record = MetadataRecord::RegisterBroker(registration);
        image.apply(0, &record).expect("a registration applies");
        image
    }

    #[test]
    fn registered_only_once_the_image_holds_this_process() {
        let (this, crashed) = (Uuid::from_u128(7), Uuid::from_u128(6));
        let view = |image: &MetadataImage, id| {
            ClusterView::build(
                image,
                (id, this),
                ("PLAINTEXT", "PLAINTEXT"),
                QuorumView::default(),
            )
        };
        assert!(!view(&MetadataImage::new(), 1).registered);
        assert!(!view(&image_with(1, crashed), 1).registered);
        assert!(!view(&image_with(2, this), 1).registered);
        assert!(view(&image_with(1, this), 1).registered);
    }

    #[test]
    fn clients_get_their_listeners_endpoint_and_followers_the_inter_broker_one() {
        let endpoint = |name: &str, host: &str, port| Endpoint {
            name: name.into(),
            host: host.into(),
            port,
            security_protocol: 0,
        };
        let endpoints = vec![
            endpoint("EXTERNAL", "broker.example", 19092),
            endpoint("INTERNAL", "10.0.0.1", 9094),
        ];
        let image = image_with_endpoints(1, Uuid::from_u128(7), endpoints);
        let view = ClusterView::build(
            &image,
            (1, Uuid::from_u128(7)),
            ("EXTERNAL", "INTERNAL"),
            QuorumView::default(),
        );
        let broker = view.broker(1).expect("registered");
        assert_eq!(broker.inter_broker, ("10.0.0.1".to_string(), 9094));
        assert_eq!(
            (broker.host.as_str(), broker.port),
            ("broker.example", 19092)
        );
        assert_eq!(broker.endpoint_for("INTERNAL"), ("10.0.0.1", 9094));
        assert_eq!(broker.endpoint_for("EXTERNAL"), ("broker.example", 19092));
        // A listener it did not register: its client listener's.
        assert_eq!(broker.endpoint_for("OTHER"), ("broker.example", 19092));
    }
}
