//! The remote client's replica, fed by the change feed over HTTP.

mod common;

use common::*;
use sluice_meta::client::RemoteOptions;
use sluice_meta::command::Command;
use sluice_meta::MetaClient;
use std::time::Duration;

fn opts() -> RemoteOptions {
    RemoteOptions {
        poll_wait: Duration::from_millis(500),
        retry_pause: Duration::from_millis(50),
        ..RemoteOptions::default()
    }
}

/// Given a node whose change feed keeps only 10 entries, when a remote client
/// follows it from the start, then its replica catches up entry by entry; and
/// when a client starts after the feed has moved past its history, then it
/// resets from the full state and continues from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_catches_up_and_resets_from_snapshot() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(1, dir.path());
    cfg.tuning.feed_capacity = 10;
    let node = start(cfg).await;
    let endpoint = format!("http://{}", node.local_addr());

    // A client that follows from the start (the feed still holds everything).
    let early = MetaClient::remote_with(&endpoint, opts()).unwrap();
    let (first, _) = within(15, "first propose", early.propose(init_cluster("remote")))
        .await
        .unwrap();
    let mut seen = vec![];
    let mut applied = early.replica().applied();
    let mut last = first;
    for _ in 0..5 {
        last = early.propose(Command::Noop).await.unwrap().0;
    }
    within(10, "early replica", early.wait_applied(last))
        .await
        .unwrap();
    // It moved forward monotonically, never reset.
    while applied.has_changed().unwrap_or(false) {
        seen.push(*applied.borrow_and_update());
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert_eq!(early.replica().applied_index(), last);
    assert_eq!(state_json(&early.replica()), state_json(&node.replica()));

    // Push the feed far past index 0.
    for _ in 0..30 {
        last = node.propose(Command::Noop).await.unwrap().0;
    }
    assert!(node.feed().base() > 0);

    // A new client asks for entries after 0, gets the full state instead.
    let late = MetaClient::remote_with(&endpoint, opts()).unwrap();
    within(10, "late replica", late.wait_applied(last))
        .await
        .unwrap();
    assert_eq!(late.replica().applied_index(), last);
    assert_eq!(late.replica().read(|s| s.cluster_id.clone()), "remote");
    assert_eq!(state_json(&late.replica()), state_json(&node.replica()));

    // And keeps following entry by entry afterwards.
    let (next, _) = late.propose(Command::Noop).await.unwrap();
    assert_eq!(next, last + 1);
    within(10, "late follows", late.wait_applied(next))
        .await
        .unwrap();
    within(10, "early follows", early.wait_applied(next))
        .await
        .unwrap();
    assert_eq!(state_json(&early.replica()), state_json(&node.replica()));

    // After shutdown, waiting fails instead of hanging.
    late.shutdown().await;
    assert!(late.wait_applied(next + 100).await.is_err());
    early.shutdown().await;
    node.shutdown().await;
}

/// A local client reads its own writes from the node's state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_client_reads_own_writes() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let node = start(config(1, dir.path())).await;
    let client = MetaClient::local(node.clone());
    let (index, _) = within(
        15,
        "propose",
        client.propose_and_wait(init_cluster("local")),
    )
    .await
    .unwrap();
    assert!(client.replica().applied_index() >= index);
    assert_eq!(client.replica().read(|s| s.cluster_id.clone()), "local");
    client.shutdown().await;
    node.shutdown().await;
}
