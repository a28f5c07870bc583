//! Three meta nodes in one process on ephemeral ports.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use sluice_meta::command::{Command, CommandResponse};
use sluice_meta::{MetaClient, MetaNode};

async fn three_nodes(dirs: &[tempfile::TempDir]) -> Vec<Arc<MetaNode>> {
    let mut nodes = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let mut cfg = config(i as u64 + 1, dir.path());
        cfg.bootstrap = false;
        nodes.push(start(cfg).await);
    }
    let members: BTreeMap<u64, String> = nodes
        .iter()
        .map(|n| (n.id(), n.advertised_addr().to_string()))
        .collect();
    within(10, "initialize", nodes[0].initialize(members))
        .await
        .unwrap();
    nodes
}

/// Waits until every node knows the same leader; returns its id.
async fn leader_of(nodes: &[Arc<MetaNode>]) -> u64 {
    let mut leader = None;
    for node in nodes {
        let m = within(
            10,
            "leader election",
            node.raft()
                .wait(None)
                .metrics(|m| m.current_leader.is_some(), "a leader"),
        )
        .await
        .unwrap();
        let id = m.current_leader.unwrap();
        assert_eq!(*leader.get_or_insert(id), id, "nodes agree on the leader");
    }
    leader.unwrap()
}

/// Given three nodes, when commands are proposed through a follower (in process
/// and over HTTP), then they are forwarded to the leader, and every node's change
/// feed yields the same sequence and every state is the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_forwards_and_feeds_agree() {
    init_tracing();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes = three_nodes(&dirs).await;
    let leader = leader_of(&nodes).await;
    let follower = nodes.iter().find(|n| n.id() != leader).unwrap().clone();
    assert_eq!(follower.leader().map(|l| l.id), Some(leader));

    let (first, resp) = within(
        15,
        "propose via follower",
        follower.propose(init_cluster("three")),
    )
    .await
    .unwrap();
    assert_eq!(resp, CommandResponse::Ok);
    let mut last = first;
    for _ in 0..20 {
        let (index, _) = follower.propose(Command::Noop).await.unwrap();
        assert_eq!(index, last + 1);
        last = index;
    }

    // Over HTTP, through the follower only.
    let client = MetaClient::remote(&format!("http://{}", follower.advertised_addr())).unwrap();
    for _ in 0..5 {
        let (index, _) = within(15, "remote propose", client.propose(Command::Noop))
            .await
            .unwrap();
        assert_eq!(index, last + 1);
        last = index;
    }
    within(15, "remote replica", client.wait_applied(last))
        .await
        .unwrap();

    for node in &nodes {
        within(15, "replication", node.replica().wait_applied(last))
            .await
            .unwrap();
    }
    let reference = feed_entries(&nodes[0]);
    assert_eq!(reference.first().unwrap().index, 1);
    assert_eq!(reference.last().unwrap().index, last);
    assert!(reference
        .iter()
        .any(|e| e.command == Some(init_cluster("three"))));
    for node in &nodes[1..] {
        assert_eq!(feed_entries(node), reference, "node {} feed", node.id());
    }
    let state = state_json(&nodes[0].replica());
    for node in &nodes[1..] {
        assert_eq!(state_json(&node.replica()), state);
    }
    assert_eq!(state_json(&client.replica()), state);
    assert_eq!(client.replica().applied_index(), last);

    client.shutdown().await;
    for node in &nodes {
        node.shutdown().await;
    }
}

/// Given a three-node cluster, when the leader stops, then the others elect a new
/// leader and proposals (through the survivors) keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_failover() {
    init_tracing();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes = three_nodes(&dirs).await;
    let leader = leader_of(&nodes).await;
    let (before, _) = within(15, "propose", nodes[0].propose(init_cluster("fo")))
        .await
        .unwrap();

    let old = nodes.iter().find(|n| n.id() == leader).unwrap();
    old.shutdown().await;
    let survivors: Vec<_> = nodes.iter().filter(|n| n.id() != leader).cloned().collect();

    let (after, _) = within(
        20,
        "propose after failover",
        survivors[0].propose(Command::Noop),
    )
    .await
    .unwrap();
    assert!(after > before);
    let new_leader = survivors[0].leader().unwrap().id;
    assert_ne!(new_leader, leader);
    for node in &survivors {
        within(15, "replication", node.replica().wait_applied(after))
            .await
            .unwrap();
        assert_eq!(node.replica().read(|s| s.cluster_id.clone()), "fo");
    }
    for node in &survivors {
        node.shutdown().await;
    }
}

/// Given a single node that has snapshotted and purged its log, when a second
/// node joins as a learner (over the HTTP API) and becomes a voter, then it is
/// caught up by a snapshot transfer plus the log after it, and its state and
/// feed match from the snapshot on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learner_catches_up_from_snapshot() {
    init_tracing();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut cfg = config(1, dirs[0].path());
    cfg.tuning.snapshot_every = 20;
    cfg.tuning.logs_to_keep = 5;
    let n1 = start(cfg).await;
    within(15, "propose", n1.propose(init_cluster("join")))
        .await
        .unwrap();
    for _ in 0..60 {
        n1.propose(Command::Noop).await.unwrap();
    }
    within(
        15,
        "purge",
        n1.raft()
            .wait(None)
            .metrics(|m| m.purged.is_some_and(|p| p.index > 10), "purged"),
    )
    .await
    .unwrap();

    let mut cfg2 = config(2, dirs[1].path());
    cfg2.bootstrap = false;
    let n2 = start(cfg2).await;

    let http = reqwest::Client::new();
    let base = format!("http://{}", n1.advertised_addr());
    let resp = within(
        20,
        "add learner",
        http.post(format!("{base}/api/add-learner"))
            .json(&serde_json::json!({"id": 2, "addr": n2.advertised_addr()}))
            .send(),
    )
    .await
    .unwrap();
    assert!(resp.status().is_success(), "{:?}", resp.text().await);
    let resp = within(
        20,
        "change membership",
        http.post(format!("{base}/api/change-membership"))
            .json(&serde_json::json!({"voters": [1, 2]}))
            .send(),
    )
    .await
    .unwrap();
    assert!(resp.status().is_success(), "{:?}", resp.text().await);

    let (last, _) = n2.propose(Command::Noop).await.unwrap();
    within(15, "n2 applied", n2.replica().wait_applied(last))
        .await
        .unwrap();
    within(15, "n1 applied", n1.replica().wait_applied(last))
        .await
        .unwrap();
    let m2 = n2.raft().metrics().borrow().clone();
    assert!(m2.snapshot.is_some(), "n2 installed a snapshot");
    assert_eq!(n2.replica().read(|s| s.cluster_id.clone()), "join");
    assert_eq!(state_json(&n2.replica()), state_json(&n1.replica()));
    // n2's feed starts at its snapshot; from there on it matches n1's.
    let f2 = feed_entries(&n2);
    let f1 = feed_entries(&n1);
    assert_eq!(f2[0].index, m2.snapshot.unwrap().index + 1);
    let start_at = f1.iter().position(|e| e.index == f2[0].index).unwrap();
    assert_eq!(&f1[start_at..], &f2[..]);

    let leader: serde_json::Value = http
        .get(format!("http://{}/api/leader", n2.advertised_addr()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(leader["node_id"], 2);
    assert_eq!(leader["leader"]["id"], 1);

    n2.shutdown().await;
    n1.shutdown().await;
}

/// Given three nodes configured with each other as peers and `bootstrap`, when
/// they start, then only the lowest id initializes and they form one cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_from_peers() {
    init_tracing();
    // Reserve three ports (released just before the nodes bind them).
    let addrs: Vec<std::net::SocketAddr> = (0..3)
        .map(|_| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        })
        .collect();
    let peers: BTreeMap<u64, String> = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| (i as u64 + 1, a.to_string()))
        .collect();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = Vec::new();
    // Start the highest id first: it must wait for node 1 rather than initialize.
    for i in (0..3).rev() {
        let mut cfg = config(i as u64 + 1, dirs[i].path());
        cfg.listen = addrs[i];
        cfg.peers = peers.clone();
        nodes.push(start(cfg).await);
    }
    nodes.reverse();
    let leader = leader_of(&nodes).await;
    let (index, _) = within(15, "propose", nodes[2].propose(init_cluster("peers")))
        .await
        .unwrap();
    for node in &nodes {
        within(15, "replication", node.replica().wait_applied(index))
            .await
            .unwrap();
        let m = node.raft().metrics().borrow().clone();
        let voters: Vec<u64> = m.membership_config.membership().voter_ids().collect();
        assert_eq!(voters, vec![1, 2, 3]);
        assert_eq!(m.current_leader, Some(leader));
    }
    for node in &nodes {
        node.shutdown().await;
    }
}
