//! A randomized state-machine test: seeded random sequences of commands (topics created,
//! grown and deleted, segments committed by idempotent and plain producers, retention, the
//! janitor's deletions, share groups joining, acquiring, acknowledging and leaving) applied to a
//! [`MetaState`]. `apply` checks the [`crate::invariants`] after every command; at the end a
//! replica that was rebuilt from snapshots along the way must equal the original.
//!
//! The seed is printed; `SLUICE_TEST_SEED=N cargo test -p sluice-meta random_commands` replays a
//! failure.

use uuid::Uuid;

use crate::command::{BatchMeta, Command, CommandResponse, PartitionAppend, SegmentCommit};
use crate::share::{AckType, ShareLimits};
use crate::share_group::{AckRequest, AcquireRequest, ShareCommand, ShareResponse};
use crate::state::MetaState;

/// SplitMix64: tiny, seedable, and the same on every platform and crate version (also used by
/// other randomized tests of this crate).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.below(items.len() as u64) as usize])
    }
}

const TOPICS: [&str; 3] = ["a", "b", "c"];
const GROUP: &str = "sg";
const MEMBERS: [&str; 3] = ["m0", "m1", "m2"];

/// The next random command for `s` at time `now`; `n` numbers objects and topic ids.
fn command(rng: &mut Rng, s: &MetaState, now: i64, n: u64) -> Command {
    let topic = TOPICS[rng.below(TOPICS.len() as u64) as usize].to_string();
    let member = MEMBERS[rng.below(MEMBERS.len() as u64) as usize].to_string();
    let limits = ShareLimits::default();
    match rng.below(21) {
        0 | 20 => Command::CreateTopic {
            name: topic,
            id: Uuid::from_u128(n as u128 + 1),
            partitions: 1 + rng.below(3) as i32,
            configs: if rng.below(2) == 0 {
                vec![("retention.bytes".into(), "300".into())]
            } else {
                vec![]
            },
            now_ms: now,
        },
        1 if rng.below(4) == 0 => Command::DeleteTopic { name: topic },
        2 => Command::CreatePartitions {
            name: topic,
            count: 1 + rng.below(5) as i32,
        },
        3 => Command::ApplyRetention {
            now_ms: now,
            defaults: Default::default(),
        },
        4 => {
            let garbage: Vec<String> = s.garbage.iter().cloned().collect();
            let keys = garbage.into_iter().filter(|_| rng.below(2) == 0).collect();
            Command::ObjectsDeleted { keys }
        }
        5 => Command::InitProducerId {
            producer_id: rng.below(3) as i64,
            producer_epoch: rng.below(2) as i16,
            now_ms: now,
        },
        6 | 7 => Command::Share(ShareCommand::Join {
            group: GROUP.into(),
            member_id: member,
            rack: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            subscribed: vec![topic],
        }),
        8 => Command::Share(ShareCommand::Leave {
            group: GROUP.into(),
            member_id: member,
        }),
        9 | 10 => Command::Share(ShareCommand::Acquire {
            group: GROUP.into(),
            member_id: member,
            now_ms: now,
            limits,
            max_records: 1 + rng.below(20) as i64,
            partitions: vec![AcquireRequest {
                topic,
                partition: rng.below(3) as i32,
            }],
        }),
        11 | 12 => {
            let first = rng.below(40) as i64;
            let ack = [
                AckType::Accept,
                AckType::Release,
                AckType::Reject,
                AckType::Gap,
            ][rng.below(4) as usize];
            Command::Share(ShareCommand::Acknowledge {
                group: GROUP.into(),
                member_id: member,
                limits,
                acks: vec![AckRequest {
                    topic,
                    partition: rng.below(3) as i32,
                    first,
                    last: first + rng.below(5) as i64,
                    ack,
                }],
                now_ms: now,
            })
        }
        13 => Command::Share(ShareCommand::ReleaseAll {
            group: GROUP.into(),
            member_id: member,
            limits,
        }),
        _ => Command::CommitSegment(segment(rng, s, now, n)),
    }
}

/// A segment with a few batches for random partitions of existing topics; now and then one
/// for a topic id that no longer exists, or a retry of an idempotent batch.
fn segment(rng: &mut Rng, s: &MetaState, now: i64, n: u64) -> SegmentCommit {
    let topics: Vec<(&String, Uuid, usize)> = s
        .topics
        .values()
        .map(|t| (&t.name, t.id, t.partitions.len()))
        .collect();
    let mut partitions = Vec::new();
    let mut pos = 0;
    for _ in 0..1 + rng.below(3) {
        let Some((name, id, count)) = rng.pick(&topics).copied() else {
            break;
        };
        let id = if rng.below(10) == 0 { Uuid::nil() } else { id };
        let batches = (0..1 + rng.below(3))
            .map(|_| {
                let records = 1 + rng.below(5) as i64;
                let idempotent = rng.below(2) == 0;
                let b = BatchMeta {
                    pos,
                    len: 50,
                    records,
                    max_timestamp: now - rng.below(1_000) as i64,
                    producer_id: if idempotent { rng.below(3) as i64 } else { -1 },
                    producer_epoch: if idempotent { rng.below(2) as i16 } else { -1 },
                    base_sequence: if idempotent { rng.below(8) as i32 } else { -1 },
                    transactional: false,
                    implicit_add_to_txn: false,
                };
                pos += 50;
                b
            })
            .collect();
        partitions.push(PartitionAppend {
            topic: name.clone(),
            topic_id: id,
            partition: rng.below(count as u64 + 1) as i32,
            batches,
        });
    }
    SegmentCommit {
        object: format!("seg-{n}"),
        object_len: pos.max(1),
        agent_id: 1,
        now_ms: now,
        partitions,
        uploaded_ms: now,
        max_age_ms: 0,
    }
}

fn run(seed: u64, steps: u64) {
    eprintln!("random_commands: seed = {seed} (SLUICE_TEST_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let mut state = MetaState::default();
    let mut replica = MetaState::default();
    let mut now = 1_000_000;
    let mut acquired = 0;
    for n in 0..steps {
        now += rng.below(5_000) as i64;
        let cmd = command(&mut rng, &state, now, n);
        let answer = state.apply(&cmd);
        if let CommandResponse::Share(ShareResponse::Acquired(per)) = &answer {
            acquired += per.iter().map(Vec::len).sum::<usize>();
        }
        assert_eq!(
            replica.apply(&cmd),
            answer,
            "seed {seed}, step {n}: the replica answered {cmd:?} differently"
        );
        if rng.below(50) == 0 {
            // A replica restarting from a snapshot carries on identically.
            let snapshot = serde_json::to_vec(&replica).expect("snapshot");
            replica = serde_json::from_slice(&snapshot).expect("restore");
        }
    }
    let chunks: usize = state
        .topics
        .values()
        .flat_map(|t| &t.partitions)
        .map(|p| p.chunks.len())
        .sum();
    let in_flight: usize = state
        .groups
        .groups
        .values()
        .filter_map(|g| g.as_share())
        .flat_map(|g| g.partitions.values().flat_map(|ps| ps.values()))
        .map(|sp| sp.in_flight.len())
        .sum();
    eprintln!(
        "random_commands: seed {seed}: {} topics, {chunks} chunks, {} garbage objects, {in_flight} share ranges, {acquired} acquisitions",
        state.topics.len(),
        state.garbage.len()
    );
    assert_eq!(
        serde_json::to_value(&state).unwrap(),
        serde_json::to_value(&replica).unwrap(),
        "seed {seed}: replica and original diverged"
    );
}

#[test]
fn random_commands_keep_the_invariants_and_replicas_agree() {
    match std::env::var("SLUICE_TEST_SEED") {
        Ok(seed) => run(seed.parse().expect("SLUICE_TEST_SEED is a number"), 3_000),
        Err(_) => {
            for seed in 0..20 {
                run(seed, 1_500);
            }
        }
    }
}
