//! KIP-848 server-side assignors: `uniform` (the default) and `range`.
//!
//! Pure functions from (members and what they subscribe to, the topics, the previous target
//! assignment) to a new target assignment. They run inside raft apply, so they are deterministic:
//! every iteration is over ordered maps, ties break on member id.
//!
//! `uniform` is sticky and balanced: every member keeps what it had that it may still have, the
//! rest goes to the least-loaded eligible member, and a balancing pass moves partitions from the
//! most to the least loaded until no eligible member has two fewer than another. Racks
//! (KIP-881/KIP-1101) come second: a partition prefers a member in one of its racks, the
//! balancing pass moves rack-mismatched partitions first, and a last pass swaps pairs of
//! mismatched partitions between members when both then match; balance always wins over racks,
//! as in Kafka.
//!
//! `range` is Kafka's co-partitioning assignor: per topic, the members subscribed to it, in member
//! id order, get contiguous ranges, the first `partitions % members` one extra; so members
//! subscribed to the same topics get the same partition numbers of each.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

/// Partitions per topic id.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// Name of the sticky, balanced, rack-aware assignor (Kafka's `UniformAssignor`); the default.
pub const UNIFORM: &str = "uniform";
/// Name of the co-partitioning range assignor (Kafka's `RangeAssignor`).
pub const RANGE: &str = "range";
/// The assignor names a ConsumerGroupHeartbeat may ask for in `ServerAssignor` (others get
/// UNSUPPORTED_ASSIGNOR), default first.
pub const ASSIGNORS: [&str; 2] = [UNIFORM, RANGE];

/// What a member asks for.
#[derive(Debug, Clone)]
pub struct MemberSpec<'a> {
    /// The member's id (KIP-848 `MemberId`); ties break on it.
    pub member_id: &'a str,
    /// The member's `client.rack` (KIP-881), `None` when it has none.
    pub rack: Option<&'a str>,
    /// Ids of the topics the member subscribes to (resolved from names or a regex).
    pub topics: BTreeSet<Uuid>,
}

/// A topic as the assignor sees it.
#[derive(Debug, Clone)]
pub struct TopicSpec<'a> {
    /// Number of partitions of the topic; partitions `0..partitions` are assigned (none when it
    /// is zero or less).
    pub partitions: i32,
    /// Racks hosting the topic's partitions (in Sluice, every partition of a topic is served
    /// from the same racks: those with live agents).
    pub racks: &'a [String],
}

/// Runs the assignor named `assignor` ([`RANGE`], anything else [`UNIFORM`]): the new target
/// assignment, one entry per member in `members` (possibly empty). `previous` (member id ->
/// assignment) is the current target, used by `uniform` for stickiness.
pub fn assign(
    assignor: &str,
    members: &[MemberSpec<'_>],
    topics: &BTreeMap<Uuid, TopicSpec<'_>>,
    previous: &BTreeMap<String, Assignment>,
) -> BTreeMap<String, Assignment> {
    match assignor {
        RANGE => range(members, topics),
        _ => uniform(members, topics, previous),
    }
}

fn rack_mismatch(m: &MemberSpec<'_>, t: &TopicSpec<'_>) -> bool {
    match m.rack {
        Some(r) if !t.racks.is_empty() => !t.racks.iter().any(|x| x == r),
        _ => false,
    }
}

/// Kafka's `RangeAssignor`: per topic, its subscribers in member-id order get contiguous
/// ranges, the first `partitions % subscribers` one extra. Ignores racks; one entry per member.
pub fn range(
    members: &[MemberSpec<'_>],
    topics: &BTreeMap<Uuid, TopicSpec<'_>>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = members
        .iter()
        .map(|m| (m.member_id.to_string(), Assignment::new()))
        .collect();
    for (tid, t) in topics {
        let mut subs: Vec<&MemberSpec<'_>> =
            members.iter().filter(|m| m.topics.contains(tid)).collect();
        if subs.is_empty() || t.partitions <= 0 {
            continue;
        }
        subs.sort_by_key(|m| m.member_id);
        let n = subs.len() as i32;
        let (quota, extra) = (t.partitions / n, t.partitions % n);
        let mut next = 0;
        for (i, m) in subs.iter().enumerate() {
            let count = quota + i32::from((i as i32) < extra);
            if count > 0 {
                out.get_mut(m.member_id)
                    .expect("every member has an entry")
                    .insert(*tid, (next..next + count).collect());
            }
            next += count;
        }
    }
    out
}

/// Kafka's `UniformAssignor` (KIP-848): keeps what each member had in `previous` that it may
/// still have, balances to within one partition per eligible member, then prefers rack matches.
/// One entry per member.
pub fn uniform(
    members: &[MemberSpec<'_>],
    topics: &BTreeMap<Uuid, TopicSpec<'_>>,
    previous: &BTreeMap<String, Assignment>,
) -> BTreeMap<String, Assignment> {
    let mut members: Vec<&MemberSpec<'_>> = members.iter().collect();
    members.sort_by_key(|m| m.member_id);
    // Member index -> its partitions; partition -> owner.
    let mut owned: Vec<BTreeSet<(Uuid, i32)>> = vec![BTreeSet::new(); members.len()];
    let mut owner: BTreeMap<(Uuid, i32), usize> = BTreeMap::new();
    let valid = |m: &MemberSpec<'_>, tid: &Uuid, p: i32| {
        m.topics.contains(tid) && topics.get(tid).is_some_and(|t| p >= 0 && p < t.partitions)
    };

    // 1. Stickiness: keep what may still be kept.
    for (i, m) in members.iter().enumerate() {
        let Some(prev) = previous.get(m.member_id) else {
            continue;
        };
        for (tid, parts) in prev {
            for &p in parts {
                if valid(m, tid, p) && !owner.contains_key(&(*tid, p)) {
                    owner.insert((*tid, p), i);
                    owned[i].insert((*tid, p));
                }
            }
        }
    }

    // 2. Everything else to the least-loaded eligible member, a rack match breaking ties.
    for (tid, t) in topics {
        for p in 0..t.partitions {
            if owner.contains_key(&(*tid, p)) {
                continue;
            }
            let best = members
                .iter()
                .enumerate()
                .filter(|(_, m)| m.topics.contains(tid))
                .min_by_key(|(i, m)| (owned[*i].len(), rack_mismatch(m, t), *i));
            if let Some((i, _)) = best {
                owner.insert((*tid, p), i);
                owned[i].insert((*tid, p));
            }
        }
    }

    // 3. Balance: move a partition from a member to an eligible one with at least two fewer.
    // Each move lowers the sum of squared loads, so this ends.
    loop {
        let mut moved = false;
        let mut order: Vec<usize> = (0..members.len()).collect();
        order.sort_by_key(|&i| (std::cmp::Reverse(owned[i].len()), i));
        'from: for &a in &order {
            // Rack-mismatched partitions move first.
            let mut candidates: Vec<(Uuid, i32)> = owned[a].iter().copied().collect();
            candidates.sort_by_key(|(tid, p)| (!rack_mismatch(members[a], &topics[tid]), *tid, *p));
            for (tid, p) in candidates {
                let t = &topics[&tid];
                let best = members
                    .iter()
                    .enumerate()
                    .filter(|(b, m)| *b != a && m.topics.contains(&tid))
                    .min_by_key(|(b, m)| (owned[*b].len(), rack_mismatch(m, t), *b));
                if let Some((b, _)) = best {
                    if owned[b].len() + 1 < owned[a].len() {
                        owned[a].remove(&(tid, p));
                        owned[b].insert((tid, p));
                        moved = true;
                        break 'from;
                    }
                }
            }
        }
        if !moved {
            break;
        }
    }

    // 4. Racks: swap two rack-mismatched partitions when both then match (loads unchanged).
    // Each swap lowers the number of mismatches, so this ends.
    let fits = |m: &MemberSpec<'_>, (tid, _): &(Uuid, i32)| {
        m.topics.contains(tid) && !rack_mismatch(m, &topics[tid])
    };
    loop {
        let mut swap = None;
        'find: for a in 0..members.len() {
            for p in owned[a]
                .iter()
                .filter(|p| rack_mismatch(members[a], &topics[&p.0]))
            {
                for b in (a + 1)..members.len() {
                    if !fits(members[b], p) {
                        continue;
                    }
                    let q = owned[b]
                        .iter()
                        .find(|q| rack_mismatch(members[b], &topics[&q.0]) && fits(members[a], q));
                    if let Some(q) = q {
                        swap = Some((a, *p, b, *q));
                        break 'find;
                    }
                }
            }
        }
        let Some((a, p, b, q)) = swap else { break };
        owned[a].remove(&p);
        owned[b].remove(&q);
        owned[a].insert(q);
        owned[b].insert(p);
    }

    members
        .iter()
        .zip(owned)
        .map(|(m, parts)| {
            let mut a = Assignment::new();
            for (tid, p) in parts {
                a.entry(tid).or_default().insert(p);
            }
            (m.member_id.to_string(), a)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tid(n: u8) -> Uuid {
        Uuid::from_bytes([n; 16])
    }

    fn member<'a>(id: &'a str, rack: Option<&'a str>, topics: &[u8]) -> MemberSpec<'a> {
        MemberSpec {
            member_id: id,
            rack,
            topics: topics.iter().map(|t| tid(*t)).collect(),
        }
    }

    fn count(a: &Assignment) -> usize {
        a.values().map(BTreeSet::len).sum()
    }

    fn all(out: &BTreeMap<String, Assignment>) -> Vec<(Uuid, i32)> {
        let mut v: Vec<(Uuid, i32)> = out
            .values()
            .flat_map(|a| a.iter().flat_map(|(t, ps)| ps.iter().map(|p| (*t, *p))))
            .collect();
        v.sort();
        v
    }

    const NO_RACKS: &[String] = &[];

    fn topics(specs: &[(u8, i32)]) -> BTreeMap<Uuid, TopicSpec<'static>> {
        specs
            .iter()
            .map(|(t, n)| {
                (
                    tid(*t),
                    TopicSpec {
                        partitions: *n,
                        racks: NO_RACKS,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn uniform_spreads_twelve_partitions_four_each_and_each_exactly_once() {
        let ms = [
            member("a", None, &[1]),
            member("b", None, &[1]),
            member("c", None, &[1]),
        ];
        let out = uniform(&ms, &topics(&[(1, 12)]), &BTreeMap::new());
        assert!(out.values().all(|a| count(a) == 4), "{out:?}");
        assert_eq!(all(&out), (0..12).map(|p| (tid(1), p)).collect::<Vec<_>>());
    }

    #[test]
    fn uniform_is_sticky_when_members_come_and_go() {
        let ts = topics(&[(1, 12)]);
        let two = [member("a", None, &[1]), member("b", None, &[1])];
        let before = uniform(&two, &ts, &BTreeMap::new());
        let three = [
            member("a", None, &[1]),
            member("b", None, &[1]),
            member("c", None, &[1]),
        ];
        let after = uniform(&three, &ts, &before);
        // a and b each give up exactly two, and keep four of what they had.
        for m in ["a", "b"] {
            let kept = after[m][&tid(1)].intersection(&before[m][&tid(1)]).count();
            assert_eq!((count(&after[m]), kept), (4, 4), "{m}: {after:?}");
        }
        assert_eq!(count(&after["c"]), 4);
        // c leaves: a and b keep theirs and split c's.
        let back = uniform(&two, &ts, &after);
        for m in ["a", "b"] {
            assert!(after[m][&tid(1)].is_subset(&back[m][&tid(1)]));
            assert_eq!(count(&back[m]), 6);
        }
    }

    #[test]
    fn uniform_balances_heterogeneous_subscriptions() {
        // a wants topics 1 and 2, b only 1, c only 2: 4 + 4 partitions over three members.
        let ms = [
            member("a", None, &[1, 2]),
            member("b", None, &[1]),
            member("c", None, &[2]),
        ];
        let out = uniform(&ms, &topics(&[(1, 4), (2, 4)]), &BTreeMap::new());
        let counts: Vec<usize> = out.values().map(count).collect();
        assert!(
            counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1,
            "{out:?}"
        );
        assert!(!out["b"].contains_key(&tid(2)) && !out["c"].contains_key(&tid(1)));
        assert_eq!(all(&out).len(), 8);
    }

    #[test]
    fn uniform_prefers_members_in_a_partitions_rack_without_giving_up_balance() {
        let east = vec!["east".to_string()];
        let west = vec!["west".to_string()];
        let mut ts = BTreeMap::new();
        ts.insert(
            tid(1),
            TopicSpec {
                partitions: 4,
                racks: &east,
            },
        );
        ts.insert(
            tid(2),
            TopicSpec {
                partitions: 4,
                racks: &west,
            },
        );
        let ms = [
            member("a", Some("west"), &[1, 2]),
            member("b", Some("east"), &[1, 2]),
        ];
        let out = uniform(&ms, &ts, &BTreeMap::new());
        assert_eq!(out["a"].keys().collect::<Vec<_>>(), vec![&tid(2)]);
        assert_eq!(out["b"].keys().collect::<Vec<_>>(), vec![&tid(1)]);
        // Balance wins: three east members, one west topic of 6 partitions.
        let mut ts = BTreeMap::new();
        ts.insert(
            tid(2),
            TopicSpec {
                partitions: 6,
                racks: &west,
            },
        );
        let ms = [
            member("a", Some("east"), &[2]),
            member("b", Some("east"), &[2]),
            member("c", Some("west"), &[2]),
        ];
        let out = uniform(&ms, &ts, &BTreeMap::new());
        assert!(out.values().all(|a| count(a) == 2), "{out:?}");
    }

    #[test]
    fn range_co_partitions_topics_in_member_order() {
        let ms = [member("b", None, &[1, 2]), member("a", None, &[1, 2])];
        let out = range(&ms, &topics(&[(1, 5), (2, 5)]));
        let want_a: BTreeSet<i32> = [0, 1, 2].into();
        let want_b: BTreeSet<i32> = [3, 4].into();
        assert_eq!(out["a"][&tid(1)], want_a);
        assert_eq!(out["a"][&tid(2)], want_a);
        assert_eq!(out["b"][&tid(1)], want_b);
        assert_eq!(out["b"][&tid(2)], want_b);
    }

    #[test]
    fn partitions_of_topics_nobody_subscribes_to_stay_unassigned_and_gone_ones_are_dropped() {
        let ms = [member("a", None, &[1])];
        let mut prev = BTreeMap::new();
        prev.insert(
            "a".to_string(),
            Assignment::from([
                (tid(1), BTreeSet::from([0, 7])),
                (tid(2), BTreeSet::from([0])),
            ]),
        );
        let out = uniform(&ms, &topics(&[(1, 2), (2, 3)]), &prev);
        assert_eq!(all(&out), vec![(tid(1), 0), (tid(1), 1)]);
    }
}
