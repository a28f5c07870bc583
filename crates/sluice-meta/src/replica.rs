//! A readable copy of [`MetaState`] plus the index of the last entry applied to it.
//!
//! On a meta node the replica *is* the state machine's state: the raft state
//! machine mutates it in place. A remote client keeps its own replica, fed from a
//! meta node's change feed. Either way readers see the same thing: a consistent
//! `MetaState` and a `watch` of the last applied log index, so a caller that
//! proposed a command at index `i` can [`Replica::wait_applied`] for `i` and then
//! read its own write.
//!
//! Reads take a shared lock for the duration of the closure; keep closures short
//! (copy out what you need) so the applier is never held up.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::MetaError;
use crate::state::MetaState;

/// Shared, cheaply clonable handle to a replica of the metadata state.
#[derive(Clone)]
pub struct Replica {
    shared: Arc<Shared>,
}

struct Shared {
    inner: RwLock<Inner>,
    applied_tx: watch::Sender<u64>,
    closed: CancellationToken,
}

struct Inner {
    state: MetaState,
    applied: u64,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("applied", &self.applied_index())
            .finish_non_exhaustive()
    }
}

impl Replica {
    /// A replica holding `state`, which reflects every entry up to `applied`.
    pub fn new(state: MetaState, applied: u64) -> Self {
        let (applied_tx, _) = watch::channel(applied);
        Replica {
            shared: Arc::new(Shared {
                inner: RwLock::new(Inner { state, applied }),
                applied_tx,
                closed: CancellationToken::new(),
            }),
        }
    }

    // A panic while applying is a bug that already takes the applier down; readers
    // keep serving the last state rather than cascading the panic.
    fn read_guard(&self) -> RwLockReadGuard<'_, Inner> {
        self.shared.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_guard(&self) -> RwLockWriteGuard<'_, Inner> {
        self.shared.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the current state under a shared lock.
    pub fn read<R>(&self, f: impl FnOnce(&MetaState) -> R) -> R {
        f(&self.read_guard().state)
    }

    /// Watch of the last applied log index (0 before anything is applied).
    pub fn applied(&self) -> watch::Receiver<u64> {
        self.shared.applied_tx.subscribe()
    }

    /// The last applied log index right now.
    pub fn applied_index(&self) -> u64 {
        *self.shared.applied_tx.borrow()
    }

    /// Waits until the entry at `index` (and everything before it) is applied.
    ///
    /// Returns [`MetaError::Shutdown`] if the replica's owner shuts down first.
    pub async fn wait_applied(&self, index: u64) -> Result<(), MetaError> {
        let mut rx = self.applied();
        tokio::select! {
            res = rx.wait_for(|applied| *applied >= index) => {
                res.map(|_| ()).map_err(|_| MetaError::Shutdown)
            }
            _ = self.shared.closed.cancelled() => Err(MetaError::Shutdown),
        }
    }

    /// A copy of the state together with the index it reflects.
    pub fn snapshot(&self) -> (u64, MetaState) {
        let g = self.read_guard();
        (g.applied, g.state.clone())
    }

    /// Mutates the state under the exclusive lock; `f` returns the new applied
    /// index. Does not notify watchers: call [`Replica::publish`] afterwards, once
    /// anything derived from the new entries (the change feed) is in place.
    pub(crate) fn update<R>(&self, f: impl FnOnce(&mut MetaState) -> (u64, R)) -> R {
        let mut g = self.write_guard();
        let (applied, r) = f(&mut g.state);
        g.applied = applied;
        r
    }

    /// Replaces the whole state (snapshot install / reset).
    pub(crate) fn reset(&self, state: MetaState, applied: u64) {
        let mut g = self.write_guard();
        g.state = state;
        g.applied = applied;
    }

    /// Announces the applied index to watchers.
    pub(crate) fn publish(&self, applied: u64) {
        self.shared.applied_tx.send_replace(applied);
    }

    /// Wakes every `wait_applied` caller with [`MetaError::Shutdown`].
    pub(crate) fn close(&self) {
        self.shared.closed.cancel();
    }
}
