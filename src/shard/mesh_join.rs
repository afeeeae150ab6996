//! Joining the cross-shard channel mesh at start-up without depending on a
//! single wake-up.
//!
//! Seen under load after kill -9 restarts (about one start in 50 with three
//! crash-cycle runs at once): one shard slept in glommio's
//! `MeshBuilder::join` for minutes while the other spun waiting for it to
//! connect its channel ends, so the broker never became ready and logged
//! nothing. The join hands off between shards with one eventfd wake-up; a
//! reactor with nothing else to do (no timer yet at start) sleeps until that
//! wake-up, and when it is lost it sleeps forever. A ticker wakes the
//! reactor every [`MESH_JOIN_TICK_MS`] while the join runs, and every
//! wake-up re-checks the shared channels, so a lost wake-up costs one tick.
//!
//! The builder keeps its peer list in an `Rc` (glommio marks the builder
//! `Send` by hand): cloning it in each shard thread raised that count from
//! two threads at once. [`MeshHandOut`] makes every clone on the starting
//! thread; shard threads only take theirs and drop it.

use super::messages::ShardMessage;
use glommio::channels::channel_mesh::{Full, MeshBuilder, Receivers, Senders};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Mutex;
use std::time::Duration;

/// How often a shard's reactor wakes while it joins the mesh.
pub const MESH_JOIN_TICK_MS: u64 = 10;

/// The mesh builder of the broker's shards.
pub type ShardMesh = MeshBuilder<ShardMessage, Full>;

/// One builder per shard, cloned on the thread that creates this.
pub struct MeshHandOut {
    builders: Mutex<Vec<ShardMesh>>,
}

impl MeshHandOut {
    /// `nr_shards` clones of `mesh`, made here.
    pub fn new(mesh: ShardMesh, nr_shards: usize) -> MeshHandOut {
        let builders = (0..nr_shards).map(|_| mesh.clone()).collect();
        MeshHandOut {
            builders: Mutex::new(builders),
        }
    }

    /// A shard thread's builder (each thread takes one).
    pub fn take(&self) -> Result<ShardMesh, String> {
        let mut builders = self.builders.lock().unwrap_or_else(|e| e.into_inner());
        builders
            .pop()
            .ok_or_else(|| "more shard threads than shards joined the mesh".to_string())
    }
}

/// Joins the mesh with the reactor woken every [`MESH_JOIN_TICK_MS`].
pub async fn join_mesh(
    mesh: ShardMesh,
) -> Result<(Senders<ShardMessage>, Receivers<ShardMessage>), String> {
    let joined = Rc::new(Cell::new(false));
    let ticking = joined.clone();
    glommio::spawn_local(async move {
        while !ticking.get() {
            glommio::timer::sleep(Duration::from_millis(MESH_JOIN_TICK_MS)).await;
        }
    })
    .detach();
    let result = mesh.join().await;
    joined.set(true);
    result.map_err(|_| "cannot join the shard mesh".to_string())
}
