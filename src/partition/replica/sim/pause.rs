//! The pause fault (issue 13): a replica's process stops (SIGSTOP, a long
//! GC pause, a stalled VM) for a drawn time and then goes on as if nothing
//! happened. Unlike a crash it keeps everything in memory: its role (a
//! leader stays leader at its epoch, with its view of the followers), the
//! requests it holds, its unsynced tail, its timers. While paused it
//! processes nothing; every event for it is held, and on resume replayed
//! in the order it came (a TCP buffer delivers what arrived meanwhile, in
//! order; a timer due meanwhile fires late).
//!
//! A paused leader silent past the controller's session timeout is fenced
//! and a new leader elected: on resume it is a zombie, acting on its stale
//! epoch until the new state reaches it. What must hold then (checked by
//! [`checker`](super::checker)): it acknowledges only records that the new
//! leader holds at the same offsets, its high watermark covers nothing the
//! current ISR does not hold, and it steps down and truncates what it
//! appended under its stale epoch.
//!
//! Its draws come from a stream of their own, so a run draws from the
//! fault stream exactly as before, up to the first pause.

use super::{Event, Node, World};
use super::{FAULTS_MS, SESSION_TIMEOUT_MS};
use crate::cluster::prng::Prng;
use crate::partition::replica::ReplicaId;

/// Mean time between two pauses is half this: about 4 pauses in the
/// [`FAULTS_MS`] of faults, so most runs pause a leader at least once.
const PAUSE_INTERVAL_MS_MAX: u64 = FAULTS_MS / 2;
/// A pause lasts up to this long: twice the controller's session timeout,
/// so about half the pauses of a leader outlast it and a new leader is
/// elected meanwhile (the zombie case).
const PAUSE_MS_MAX: u64 = 2 * SESSION_TIMEOUT_MS;
/// Chance, per million, that a pause takes the leader the controller
/// names rather than a replica drawn at random: leaders are what the
/// fault is for.
const PAUSE_LEADER_PER_MILLION: u32 = 500_000;
/// Mixed into the seed for the pauses' own stream.
const PAUSE_SEED_SALT: u64 = 0x5041_5553_4553_4947;

/// The pauses' stream for the run of `seed`.
pub(super) fn prng(seed: u64) -> Prng {
    Prng::new(seed ^ PAUSE_SEED_SALT)
}

/// A paused replica's held events, and what it led when paused.
#[derive(Debug, Default)]
pub(super) struct Paused {
    held: Vec<Event>,
    /// Its leader epoch when paused, if it led.
    led_epoch: Option<i32>,
}

/// The replica an event is for, if one: a paused one must not see it yet.
fn target(event: &Event) -> Option<ReplicaId> {
    match event {
        Event::Deliver {
            to: Node::Replica(id),
            ..
        }
        | Event::Fetch(id)
        | Event::FetchTimeout(id, _)
        | Event::FetchWaitOver(id, _)
        | Event::Flush(id)
        | Event::Heartbeat(id)
        | Event::AlterPartitionTimeout(id, _, _) => Some(*id),
        // A restart is of a crashed process: never a paused one (a crash
        // ends a pause).
        _ => None,
    }
}

impl World {
    /// The event, unless it is for a paused replica (then held for its
    /// resume).
    pub(super) fn unless_paused(&mut self, event: Event) -> Option<Event> {
        let paused = target(&event).and_then(|id| self.paused.get_mut(&id));
        match paused {
            Some(paused) => {
                paused.held.push(event);
                None
            }
            None => Some(event),
        }
    }

    pub(super) fn is_paused(&self, id: ReplicaId) -> bool {
        self.paused.contains_key(&id)
    }

    pub(super) fn schedule_first_pause(&mut self) {
        let first = self.pause_prng.range(1, PAUSE_INTERVAL_MS_MAX);
        self.schedule(first, Event::Pause);
    }

    /// The next pause: the leader half the time, else any replica, for a
    /// drawn time (a dead or paused one is left alone).
    pub(super) fn pause_fault(&mut self) {
        if self.faults_over {
            return;
        }
        let next = self.pause_prng.range(1, PAUSE_INTERVAL_MS_MAX);
        self.schedule(next, Event::Pause);
        let count = self.replicas.len() as u64;
        let leader = self.controller.state().leader;
        let id = match self.pause_prng.chance(PAUSE_LEADER_PER_MILLION) {
            true if leader >= 0 => leader,
            _ => self.pause_prng.range(1, count) as ReplicaId,
        };
        let duration = self.pause_prng.range(1, PAUSE_MS_MAX);
        if !self.replica(id).alive || self.is_paused(id) {
            return;
        }
        let led_epoch = self.replica(id).leader().map(|l| l.leader_epoch());
        self.stats.pauses += 1;
        self.stats.leader_pauses += u64::from(led_epoch.is_some());
        let held = Vec::new();
        self.paused.insert(id, Paused { held, led_epoch });
        self.schedule(duration, Event::Resume(id));
    }

    /// `id` goes on: what it was sent meanwhile and its late timers come
    /// now, in order (each its own event, so the checker sees every step).
    pub(super) fn resume(&mut self, id: ReplicaId) {
        let Some(paused) = self.paused.remove(&id) else {
            return;
        };
        let epoch = self.controller.state().leader_epoch;
        let zombie = paused.led_epoch.filter(|&led| led < epoch);
        if zombie.is_some() && self.replica(id).alive {
            // A new leader was elected while it slept: it wakes a zombie.
            self.stats.zombie_leaders += 1;
            self.zombies.insert(id);
        }
        for event in paused.held {
            self.schedule(0, event);
        }
    }

    /// Every paused replica goes on (the faults are over, or it crashed).
    pub(super) fn resume_all(&mut self) {
        let ids: Vec<ReplicaId> = self.paused.keys().copied().collect();
        for id in ids {
            self.resume(id);
        }
    }
}
