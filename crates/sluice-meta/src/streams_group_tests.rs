use super::*;

fn settings(standbys: u32) -> StreamsSettings {
    StreamsSettings {
        num_standby_replicas: standbys,
        acceptable_recovery_lag: 10_000,
        max_warmup_replicas: 0,
        max_size: 0,
    }
}

/// Word count: sub-topology 0 reads `input` and writes the repartition topic; sub-topology 1
/// reads it and keeps a changelogged store.
fn word_count() -> StreamsTopology {
    let repartition = "app-counts-repartition".to_string();
    let s0 = Subtopology {
        id: "0".into(),
        source_topics: vec!["input".into()],
        repartition_sink_topics: vec![repartition.clone()],
        ..Default::default()
    };
    let s1 = Subtopology {
        id: "1".into(),
        repartition_source_topics: vec![TopicInfo {
            name: repartition,
            ..Default::default()
        }],
        state_changelog_topics: vec![TopicInfo {
            name: "app-counts-changelog".into(),
            configs: [("cleanup.policy".to_string(), "compact".to_string())].into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    StreamsTopology {
        epoch: 0,
        subtopologies: [("0".to_string(), s0), ("1".to_string(), s1)].into(),
    }
}

fn all_topics(n: i32) -> BTreeMap<String, i32> {
    [
        ("input".to_string(), n),
        ("app-counts-repartition".to_string(), n),
        ("app-counts-changelog".to_string(), n),
    ]
    .into()
}

fn hb(id: &str, epoch: i32, topics: &BTreeMap<String, i32>) -> StreamsHeartbeat {
    StreamsHeartbeat {
        member_id: id.into(),
        member_epoch: epoch,
        endpoint_information_epoch: 0,
        instance_id: None,
        rack_id: None,
        rebalance_timeout_ms: if epoch == 0 { 30_000 } else { -1 },
        topology: (epoch == 0).then(word_count),
        owned: None,
        process_id: (epoch == 0).then(|| format!("process-{id}")),
        user_endpoint: None,
        client_tags: None,
        task_offsets: None,
        task_end_offsets: None,
        shutdown_application: false,
        client_id: "c".into(),
        client_host: "h".into(),
        topics: topics.clone(),
        settings: settings(0),
        now_ms: 1,
    }
}

fn count(t: &Option<MemberTasks>) -> usize {
    t.as_ref().map_or(0, |t| t.active.len())
}

#[test]
fn configure_decides_internal_topics_and_reports_what_is_missing() {
    let t = word_count();
    let none = configure(&t, &BTreeMap::new());
    assert_eq!(
        none.problem.as_ref().map(|p| p.code),
        Some(StatusCode::MissingSourceTopics)
    );
    assert_eq!(
        none.problem.unwrap().detail,
        "Source topics [input] are missing."
    );
    let only_input = configure(&t, &[("input".to_string(), 6)].into());
    assert_eq!(
        only_input.problem.as_ref().map(|p| p.code),
        Some(StatusCode::MissingInternalTopics)
    );
    let made: Vec<(String, i32)> = only_input
        .to_create
        .iter()
        .map(|c| (c.name.clone(), c.partitions))
        .collect();
    assert_eq!(
        made,
        vec![
            ("app-counts-repartition".to_string(), 6),
            ("app-counts-changelog".to_string(), 6)
        ]
    );
    assert_eq!(only_input.to_create[1].configs["cleanup.policy"], "compact");
    let ready = configure(&t, &all_topics(6));
    assert!(ready.is_ready());
    assert_eq!(
        ready.tasks,
        [("0".to_string(), 6), ("1".to_string(), 6)].into()
    );
    let mut wrong = all_topics(6);
    wrong.insert("app-counts-changelog".into(), 3);
    let w = configure(&t, &wrong);
    assert_eq!(
        w.problem.map(|p| p.detail),
        Some(
            "Existing topic app-counts-changelog has different number of partitions: expected 6, found 3"
                .to_string()
        )
    );
}

#[test]
fn copartitioned_sources_must_agree() {
    let s = Subtopology {
        id: "0".into(),
        source_topics: vec!["a".into(), "b".into()],
        copartition_groups: vec![CopartitionGroup {
            source_topics: vec![0, 1],
            ..Default::default()
        }],
        ..Default::default()
    };
    let t = StreamsTopology {
        epoch: 0,
        subtopologies: [("0".to_string(), s)].into(),
    };
    let c = configure(&t, &[("a".to_string(), 2), ("b".to_string(), 3)].into());
    assert_eq!(
        c.problem.map(|p| p.code),
        Some(StatusCode::IncorrectlyPartitionedTopics)
    );
    let ok = configure(&t, &[("a".to_string(), 3), ("b".to_string(), 3)].into());
    assert_eq!(ok.tasks["0"], 3);
}

#[test]
fn invalid_topologies_are_refused_whole() {
    let mut t = word_count();
    t.subtopologies.get_mut("1").unwrap().state_changelog_topics[0].partitions = 4;
    assert_eq!(t.validate().unwrap_err().code, STREAMS_INVALID_TOPOLOGY);
    let mut t = word_count();
    t.subtopologies.get_mut("0").unwrap().copartition_groups = vec![CopartitionGroup {
        source_topics: vec![5],
        ..Default::default()
    }];
    assert!(t.validate().unwrap_err().message.contains("outside"));
    let mut g = StreamsGroup::default();
    let mut h = hb("m1", 0, &all_topics(6));
    h.topology = Some(t);
    assert!(g.heartbeat(&h).is_err());
    assert!(
        g.topology.is_none(),
        "nothing stored from a refused topology"
    );
}

#[test]
fn a_second_member_gets_tasks_only_after_the_first_revoked_them() {
    let topics = all_topics(6);
    let mut g = StreamsGroup::default();
    let r = g.heartbeat(&hb("a", 0, &topics)).unwrap();
    assert_eq!(r.member_epoch, 1);
    assert_eq!(count(&r.assignment), 12);
    assert_eq!(g.state(), StreamsGroupState::Stable);

    let r = g.heartbeat(&hb("b", 0, &topics)).unwrap();
    assert_eq!(
        r.member_epoch, 2,
        "b moves to the new epoch at once: it has nothing to revoke"
    );
    assert_eq!(count(&r.assignment), 0, "but a still owns every task");
    assert_eq!(g.members["b"].state, StreamsMemberState::UnreleasedTasks);
    g.check_ownership().unwrap();

    // a learns it must give up half its tasks.
    let r = g.heartbeat(&hb("a", 1, &topics)).unwrap();
    assert_eq!(r.member_epoch, 1);
    let keep = r.assignment.clone().unwrap();
    assert_eq!(keep.active.len(), 6);
    g.check_ownership().unwrap();
    // It reports it owns only what it keeps: it moves to epoch 2.
    let mut h = hb("a", 1, &topics);
    h.owned = Some(keep);
    let r = g.heartbeat(&h).unwrap();
    assert_eq!(r.member_epoch, 2);
    // b now gets the released tasks.
    let r = g.heartbeat(&hb("b", 2, &topics)).unwrap();
    assert_eq!(r.member_epoch, 2);
    assert_eq!(count(&r.assignment), 6);
    assert_eq!(g.state(), StreamsGroupState::Stable);
    g.check_ownership().unwrap();
}

#[test]
fn missing_source_topics_assign_nothing_until_the_topic_exists() {
    let mut g = StreamsGroup::default();
    let r = g.heartbeat(&hb("a", 0, &BTreeMap::new())).unwrap();
    assert_eq!(count(&r.assignment), 0);
    assert_eq!(r.status[0].code, StatusCode::MissingSourceTopics);
    assert_eq!(g.state(), StreamsGroupState::NotReady);
    let r = g
        .heartbeat(&hb("a", r.member_epoch, &[("input".to_string(), 2)].into()))
        .unwrap();
    assert_eq!(r.status[0].code, StatusCode::MissingInternalTopics);
    assert_eq!(r.to_create.len(), 2);
    let r = g
        .heartbeat(&hb("a", r.member_epoch, &all_topics(2)))
        .unwrap();
    assert!(r.status.is_empty());
    assert_eq!(count(&r.assignment), 4);
}

#[test]
fn a_steady_heartbeat_changes_nothing() {
    let topics = all_topics(4);
    let mut g = StreamsGroup::default();
    let r = g.heartbeat(&hb("a", 0, &topics)).unwrap();
    let before = g.clone();
    let mut h = hb("a", r.member_epoch, &topics);
    h.endpoint_information_epoch = r.endpoint_information_epoch;
    let r2 = g.heartbeat(&h).unwrap();
    assert_eq!(g, before);
    assert_eq!(r2.assignment, None);
    assert_eq!(r2.partitions_by_endpoint, None);
}

#[test]
fn epochs_are_fenced_and_leaving_rebalances() {
    let topics = all_topics(4);
    let mut g = StreamsGroup::default();
    g.heartbeat(&hb("a", 0, &topics)).unwrap();
    let e = g.heartbeat(&hb("a", 7, &topics)).unwrap_err();
    assert_eq!(e.code, FENCED_MEMBER_EPOCH);
    let e = g.heartbeat(&hb("zz", 3, &topics)).unwrap_err();
    assert_eq!(e.code, codes::UNKNOWN_MEMBER_ID);
    let b = g.heartbeat(&hb("b", 0, &topics)).unwrap();
    let r = g.heartbeat(&hb("a", LEAVE_EPOCH, &topics)).unwrap();
    assert_eq!(r.member_epoch, LEAVE_EPOCH);
    let r = g.heartbeat(&hb("b", b.member_epoch, &topics)).unwrap();
    assert_eq!(count(&r.assignment), 8, "b takes everything once a left");
}

#[test]
fn standbys_go_to_another_process_and_shutdown_reaches_everyone() {
    let topics = all_topics(2);
    let mut g = StreamsGroup::default();
    let mut a = hb("a", 0, &topics);
    a.settings = settings(1);
    g.heartbeat(&a).unwrap();
    let mut b = hb("b", 0, &topics);
    b.settings = settings(1);
    g.heartbeat(&b).unwrap();
    for (id, t) in &g.target {
        for task in &t.standby {
            assert!(
                !t.active.contains(task),
                "{id} has {task:?} as active and standby"
            );
        }
    }
    let standbys: usize = g.target.values().map(|t| t.standby.len()).sum();
    assert_eq!(
        standbys, 2,
        "the stateful sub-topology's two tasks have a standby each"
    );
    let mut s = hb("b", g.members["b"].member_epoch, &topics);
    s.shutdown_application = true;
    g.heartbeat(&s).unwrap();
    let r = g
        .heartbeat(&hb("a", g.members["a"].member_epoch, &topics))
        .unwrap();
    assert!(r
        .status
        .iter()
        .any(|s| s.code == StatusCode::ShutdownApplication));
}

/// Random joins, leaves and heartbeats (with or without reporting owned tasks): no task is ever
/// active on two members in the group's view, and once everyone heartbeats with what it owns,
/// the group converges to its target.
#[test]
fn random_churn_never_double_assigns_and_converges() {
    let topics = all_topics(6);
    let mut seed: u64 = 0x5eed;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for _round in 0..20 {
        let mut g = StreamsGroup::default();
        // What each member believes it owns (the client's view).
        let mut view: BTreeMap<String, (i32, MemberTasks)> = BTreeMap::new();
        for step in 0..200 {
            let pick = format!("m{}", next(5));
            match (view.get(&pick).cloned(), next(10)) {
                (None, _) => {
                    let mut h = hb(&pick, 0, &topics);
                    h.now_ms = step;
                    let r = g.heartbeat(&h).unwrap();
                    view.insert(pick, (r.member_epoch, r.assignment.unwrap_or_default()));
                }
                (Some(_), 0) => {
                    g.heartbeat(&hb(&pick, LEAVE_EPOCH, &topics)).unwrap();
                    view.remove(&pick);
                }
                (Some((epoch, owned)), k) => {
                    let mut h = hb(&pick, epoch, &topics);
                    h.owned = (k % 2 == 0).then_some(owned.clone());
                    h.now_ms = step;
                    let r = g.heartbeat(&h).unwrap();
                    let owned = r.assignment.unwrap_or(owned);
                    view.insert(pick, (r.member_epoch, owned));
                }
            }
            g.check_ownership().unwrap();
            // Members' own views: no task active on two of them.
            let mut seen = BTreeSet::new();
            for (id, (_, t)) in &view {
                for task in &t.active {
                    assert!(seen.insert(task.clone()), "{task:?} active twice ({id})");
                }
            }
        }
        for _ in 0..6 {
            for (id, (epoch, owned)) in view.clone() {
                let mut h = hb(&id, epoch, &topics);
                h.owned = Some(owned.clone());
                let r = g.heartbeat(&h).unwrap();
                view.insert(id, (r.member_epoch, r.assignment.unwrap_or(owned)));
            }
        }
        if !view.is_empty() {
            assert_eq!(g.state(), StreamsGroupState::Stable);
            let actives: Vec<usize> = view.values().map(|(_, t)| t.active.len()).collect();
            assert_eq!(actives.iter().sum::<usize>(), 12);
            let (min, max) = (actives.iter().min().unwrap(), actives.iter().max().unwrap());
            assert!(max - min <= 1, "unbalanced: {actives:?}");
        }
    }
}
