//! Raft snapshots kept in object storage as well as on the node's disk, so a meta node whose
//! disk is lost recovers the state from there rather than only from its peers.
//!
//! The meta crate knows nothing of object stores: it talks to a [`SnapshotArchive`] (the
//! `sluice` binary provides one over `object_store`, `sluice meta --snapshot-store URL`).
//! Every snapshot the node builds is saved locally, then uploaded under a name that sorts by
//! log index ([`archive_name`]). A node that starts with an empty data directory (no raft log,
//! no local snapshot) loads the newest archived snapshot first: its state machine then starts at
//! that snapshot's index, and the raft log continues from there once the node is (re-)added to
//! the cluster. An archived snapshot holds only committed state, so it is never ahead of the
//! quorum. A lost node still has to be removed and added back (`sluice meta remove-node` /
//! `add-node`): it lost its vote, so it must not vote as if it had kept it.

use std::fmt::Debug;
use std::io::{BufRead, Read};

use futures::future::BoxFuture;

use crate::error::BoxError;
use crate::types::SnapshotMeta;

/// Where snapshots are archived: named blobs, listed by name.
///
/// Errors are the implementation's own (an object store error for the `sluice` binary's),
/// boxed: this crate only logs them or reports them as [`crate::MetaError::Unavailable`].
pub trait SnapshotArchive: Debug + Send + Sync + 'static {
    /// Stores `data` as `name` (then may drop older snapshots).
    fn put(&self, name: String, data: Vec<u8>) -> BoxFuture<'_, Result<(), BoxError>>;
    /// The blob whose name sorts last, if any.
    fn latest(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, BoxError>>;
}

/// The archive name of a snapshot: zero-padded last log index first, so names sort by age.
pub fn archive_name(meta: &SnapshotMeta) -> String {
    let index = meta.last_log_id.map_or(0, |l| l.index);
    format!("{index:020}-{}.snap", meta.snapshot_id)
}

/// One blob: the JSON of the [`SnapshotMeta`], a newline, then the snapshot data (the same
/// layout as the local snapshot file).
pub fn encode(meta: &SnapshotMeta, data: &[u8]) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = serde_json::to_vec(meta)?;
    out.push(b'\n');
    out.extend_from_slice(data);
    Ok(out)
}

/// Splits a blob made by [`encode`].
pub fn decode(blob: &[u8]) -> Result<(SnapshotMeta, Vec<u8>), crate::MetaError> {
    let mut r = std::io::Cursor::new(blob);
    let mut header = Vec::new();
    r.read_until(b'\n', &mut header)?;
    let meta: SnapshotMeta = serde_json::from_slice(&header)?;
    let mut data = Vec::new();
    r.read_to_end(&mut data)?;
    Ok((meta, data))
}
