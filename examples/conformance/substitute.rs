//! What must differ per broker when one client's requests are replayed to two brokers: the ids
//! a broker hands out (member ids, generations, producer ids and epochs, fetch sessions, topic
//! ids). Each is learnt by comparing the answer the recording broker gave with the one this
//! broker gives, and put in place in later requests.

use crate::batch::{rewrite, Edit, Header};
use bytes::Bytes;
use kafka_protocol::messages::{ProducerId, RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use std::collections::HashMap;
use uuid::Uuid;

/// Recorded value to this broker's, per kind of id.
#[derive(Default)]
pub struct Substitutions {
    member_ids: HashMap<StrBytes, StrBytes>,
    generations: HashMap<i32, i32>,
    producers: HashMap<(i64, i16), (i64, i16)>,
    fetch_sessions: HashMap<i32, i32>,
    topic_ids: HashMap<Uuid, Uuid>,
}

impl Substitutions {
    /// Learns the ids in `live` (this broker's answer) that stand where `recorded` has others.
    pub fn learn(&mut self, recorded: &ResponseKind, live: &ResponseKind) {
        match (recorded, live) {
            (ResponseKind::JoinGroup(r), ResponseKind::JoinGroup(l)) => {
                self.member(&r.member_id, &l.member_id);
                self.member(&r.leader, &l.leader);
                for (r, l) in r.members.iter().zip(&l.members) {
                    self.member(&r.member_id, &l.member_id);
                }
                if r.generation_id >= 0 && l.generation_id >= 0 {
                    self.generations.insert(r.generation_id, l.generation_id);
                }
            }
            (ResponseKind::InitProducerId(r), ResponseKind::InitProducerId(l))
                if r.producer_id.0 >= 0 && l.producer_id.0 >= 0 =>
            {
                self.producers.insert(
                    (r.producer_id.0, r.producer_epoch),
                    (l.producer_id.0, l.producer_epoch),
                );
            }
            (ResponseKind::Fetch(r), ResponseKind::Fetch(l)) if r.session_id != 0 => {
                self.fetch_sessions.insert(r.session_id, l.session_id);
            }
            (ResponseKind::Metadata(r), ResponseKind::Metadata(l)) => {
                for topic in &r.topics {
                    if let Some(live) = l.topics.iter().find(|t| t.name == topic.name) {
                        self.topic(topic.topic_id, live.topic_id);
                    }
                }
            }
            (ResponseKind::CreateTopics(r), ResponseKind::CreateTopics(l)) => {
                for topic in &r.topics {
                    if let Some(live) = l.topics.iter().find(|t| t.name == topic.name) {
                        self.topic(topic.topic_id, live.topic_id);
                    }
                }
            }
            _ => {}
        }
    }

    fn member(&mut self, recorded: &StrBytes, live: &StrBytes) {
        if !recorded.is_empty() && !live.is_empty() {
            self.member_ids.insert(recorded.clone(), live.clone());
        }
    }

    fn topic(&mut self, recorded: Uuid, live: Uuid) {
        if !recorded.is_nil() && !live.is_nil() {
            self.topic_ids.insert(recorded, live);
        }
    }

    fn member_id(&self, id: &mut StrBytes) {
        if let Some(live) = self.member_ids.get(id) {
            *id = live.clone();
        }
    }

    fn generation(&self, generation: &mut i32) {
        if let Some(live) = self.generations.get(generation) {
            *generation = *live;
        }
    }

    fn topic_id(&self, id: &mut Uuid) {
        if let Some(live) = self.topic_ids.get(id) {
            *id = *live;
        }
    }

    /// `request` with this broker's ids in place of the recorded ones.
    pub fn apply(&self, mut request: RequestKind) -> RequestKind {
        match &mut request {
            RequestKind::JoinGroup(r) => self.member_id(&mut r.member_id),
            RequestKind::SyncGroup(r) => {
                self.member_id(&mut r.member_id);
                self.generation(&mut r.generation_id);
                for assignment in &mut r.assignments {
                    self.member_id(&mut assignment.member_id);
                }
            }
            RequestKind::Heartbeat(r) => {
                self.member_id(&mut r.member_id);
                self.generation(&mut r.generation_id);
            }
            RequestKind::LeaveGroup(r) => {
                self.member_id(&mut r.member_id);
                for member in &mut r.members {
                    self.member_id(&mut member.member_id);
                }
            }
            RequestKind::OffsetCommit(r) => {
                self.member_id(&mut r.member_id);
                self.generation(&mut r.generation_id_or_member_epoch);
                for topic in &mut r.topics {
                    self.topic_id(&mut topic.topic_id);
                }
            }
            RequestKind::OffsetFetch(r) => {
                for group in &mut r.groups {
                    if let Some(member) = &mut group.member_id {
                        self.member_id(member);
                    }
                    for topic in group.topics.iter_mut().flatten() {
                        self.topic_id(&mut topic.topic_id);
                    }
                }
            }
            RequestKind::Fetch(r) => {
                if let Some(live) = self.fetch_sessions.get(&r.session_id) {
                    r.session_id = *live;
                }
                for topic in &mut r.topics {
                    self.topic_id(&mut topic.topic_id);
                }
                for topic in &mut r.forgotten_topics_data {
                    self.topic_id(&mut topic.topic_id);
                }
            }
            RequestKind::Produce(r) => {
                for topic in &mut r.topic_data {
                    self.topic_id(&mut topic.topic_id);
                    for partition in &mut topic.partition_data {
                        partition.records = partition.records.take().map(|b| self.batches(b));
                    }
                }
            }
            RequestKind::InitProducerId(r) => {
                if let Some((id, epoch)) = self.producers.get(&(r.producer_id.0, r.producer_epoch))
                {
                    r.producer_id = ProducerId(*id);
                    r.producer_epoch = *epoch;
                }
            }
            RequestKind::Metadata(r) => {
                for topic in r.topics.iter_mut().flatten() {
                    self.topic_id(&mut topic.topic_id);
                }
            }
            RequestKind::DeleteTopics(r) => {
                for topic in &mut r.topics {
                    self.topic_id(&mut topic.topic_id);
                }
            }
            _ => {}
        }
        request
    }

    /// Record batches with this broker's producer id and epoch, when the recorded ones are
    /// known (the CRC is recomputed; the records stay byte for byte).
    fn batches(&self, records: Bytes) -> Bytes {
        let Some((header, _)) = Header::parse(&records) else {
            return records;
        };
        match self.producers.get(&header.producer()) {
            Some((id, epoch)) => rewrite(&records, &[Edit::Producer(*id, *epoch)]),
            None => records,
        }
    }
}
