//! A single meta node: durability across restarts, snapshots and log purging.

mod common;

use common::*;
use sluice_meta::command::{Command, CommandResponse};
use sluice_meta::feed::FeedRead;

/// Given a node that committed N commands, when it restarts from the same
/// directory, then the state, the applied index and the change feed are intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_recovers_state_and_applied_index() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();

    let node = start(config(1, dir.path())).await;
    let (first, resp) = within(15, "first propose", node.propose(init_cluster("c-1")))
        .await
        .unwrap();
    assert_eq!(resp, CommandResponse::Ok);
    let mut last = first;
    for _ in 0..49 {
        let (index, resp) = node.propose(Command::Noop).await.unwrap();
        assert_eq!(resp, CommandResponse::Ok);
        assert_eq!(index, last + 1, "indexes are dense");
        last = index;
    }
    assert_eq!(node.replica().applied_index(), last);
    assert_eq!(node.replica().read(|s| s.cluster_id.clone()), "c-1");
    let feed_before = feed_entries(&node);
    assert_eq!(feed_before.last().unwrap().index, last);
    node.shutdown().await;
    drop(node);

    // The restarted node must not re-initialize; it replays the log up to the
    // saved commit index.
    let node = start(config(1, dir.path())).await;
    within(15, "replay", node.replica().wait_applied(last))
        .await
        .unwrap();
    assert_eq!(node.replica().read(|s| s.cluster_id.clone()), "c-1");
    let feed_after = feed_entries(&node);
    assert_eq!(&feed_after[..feed_before.len()], &feed_before[..]);

    // New proposals continue densely after whatever the new term appended.
    let applied = node.replica().applied_index();
    assert!(applied == last || applied == last + 1, "applied {applied}");
    let (index, _) = node.propose(Command::Noop).await.unwrap();
    assert_eq!(index, node.replica().applied_index());
    assert_eq!(index, feed_entries(&node).last().unwrap().index);
    node.shutdown().await;
}

/// Given a node that snapshotted and purged its log, when it restarts, then it
/// recovers from the snapshot plus the remaining log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_purge_and_restart() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(1, dir.path());
    cfg.tuning.snapshot_every = 20;
    cfg.tuning.logs_to_keep = 5;

    let node = start(cfg.clone()).await;
    within(15, "first propose", node.propose(init_cluster("snap")))
        .await
        .unwrap();
    let mut last = 0;
    for _ in 0..99 {
        last = node.propose(Command::Noop).await.unwrap().0;
    }
    // Wait for the snapshot policy to have fired and the log to be purged behind it.
    let metrics = within(
        15,
        "snapshot and purge",
        // Snapshots are built in the background: wait for the one covering the last writes
        // (policy: every 20 entries) and for the purge behind it, not for the first one.
        node.raft().wait(None).metrics(
            |m| {
                let snap = m.snapshot.map_or(0, |s| s.index);
                snap >= 80 && m.purged.is_some_and(|p| p.index + 5 >= snap)
            },
            "snapshot + purge",
        ),
    )
    .await
    .unwrap();
    let snap = metrics.snapshot.unwrap().index;
    let purged = metrics.purged.unwrap().index;
    assert!(snap >= 80, "snapshot at {snap}");
    assert!(
        purged < snap && purged + 5 >= snap,
        "purged {purged} keeps at most 5 behind snapshot {snap}"
    );
    assert!(dir.path().join("snapshots/current.snap").exists());
    node.shutdown().await;
    drop(node);

    let node = start(cfg).await;
    within(15, "replay", node.replica().wait_applied(last))
        .await
        .unwrap();
    assert_eq!(node.replica().read(|s| s.cluster_id.clone()), "snap");
    // History before the snapshot is gone from the feed: readers must reset.
    assert!(node.feed().base() >= snap);
    assert_eq!(node.feed().read_after(0, 10), FeedRead::Behind);
    let m = node.raft().metrics().borrow().clone();
    assert!(m.purged.is_some(), "purge state survives restart");
    assert!(m.snapshot.unwrap().index >= snap);
    node.shutdown().await;
}
