//! Where a group's coordinator lives: rendezvous (highest-random-weight) hashing over the live
//! agents.
//!
//! Every agent computes the same answer from the same live-agent list, with no coordination: for
//! a key (a group id, a transactional id, a share group...), each agent gets the weight
//! `xxHash64(seed, key ‖ agent id)` and the heaviest agent coordinates it. When an agent joins or
//! leaves, only the keys whose heaviest agent changed move: about 1/n of them, where a hash modulo
//! the agent count moves nearly all. Every move costs each member of a group a FindCoordinator
//! and a rejoin, so this keeps scaling out and rolling restarts cheap.
//!
//! The hash must be the same in every build of every agent of a cluster (a mixed-version cluster
//! must agree), so it is xxHash64, a specified function with a fixed seed, not std's
//! `DefaultHasher`, whose algorithm Rust may change.
//!
//! Partition leaders are placed differently ([`crate::agent::Agent::leader_for`]): a topic's
//! partitions go round-robin over the agents, which spreads even a few partitions evenly; a
//! leadership move costs clients only a metadata refresh.

use std::hash::Hasher;

use sluice_meta::state::AgentInfo;
use twox_hash::XxHash64;

/// The seed of the placement hash. Changing it moves every coordinator: never change it.
const PLACEMENT_SEED: u64 = 0x5111_CE00_0000_0001;

/// The weight of `agent_id` for `key`: xxHash64 (seed [`PLACEMENT_SEED`]) of the key's UTF-8
/// bytes followed by the agent id as 4 big-endian bytes.
pub fn weight(key: &str, agent_id: i32) -> u64 {
    let mut h = XxHash64::with_seed(PLACEMENT_SEED);
    h.write(key.as_bytes());
    h.write(&agent_id.to_be_bytes());
    h.finish()
}

/// The agent with the highest [`weight`] for `key` among `agents` (any order; ties, which need
/// a 64-bit collision, go to the lower agent id); `None` only for an empty list.
pub fn rendezvous<'a>(agents: &'a [AgentInfo], key: &str) -> Option<&'a AgentInfo> {
    agents
        .iter()
        .max_by_key(|a| (weight(key, a.agent_id), std::cmp::Reverse(a.agent_id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agents(ids: impl IntoIterator<Item = i32>) -> Vec<AgentInfo> {
        ids.into_iter()
            .map(|id| AgentInfo {
                agent_id: id,
                host: "127.0.0.1".into(),
                port: 9092 + id,
                rack: None,
                last_seen_ms: 0,
                listeners: vec![],
            })
            .collect()
    }

    fn owners(list: &[AgentInfo], keys: &[String]) -> Vec<i32> {
        keys.iter()
            .map(|k| rendezvous(list, k).expect("non-empty").agent_id)
            .collect()
    }

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("group-{i}")).collect()
    }

    #[test]
    fn empty_list_has_no_coordinator() {
        assert!(rendezvous(&[], "g").is_none());
    }

    #[test]
    fn the_choice_ignores_list_order() {
        let ks = keys(200);
        let mut reversed = agents(1..=5);
        reversed.reverse();
        assert_eq!(owners(&agents(1..=5), &ks), owners(&reversed, &ks));
    }

    /// xxHash64 of b"orders" ++ [0, 0, 0, 1] and of [0, 0, 0, 0] with the seed, from Python's
    /// `xxhash` package (an independent implementation).
    const PINNED_ORDERS_1: u64 = 0x291f_02da_e38a_310a;
    const PINNED_EMPTY_0: u64 = 0xe3c7_e2bc_6c66_dae8;

    #[test]
    fn weights_are_pinned() {
        // If these change, every coordinator moves on upgrade and a mixed-version cluster
        // disagrees (see PLACEMENT_SEED).
        assert_eq!(weight("orders", 1), PINNED_ORDERS_1);
        assert_eq!(weight("", 0), PINNED_EMPTY_0);
    }

    #[test]
    fn keys_spread_over_all_agents() {
        let ks = keys(3000);
        let got = owners(&agents(1..=3), &ks);
        for id in 1..=3 {
            let n = got.iter().filter(|&&o| o == id).count();
            // 1000 expected each; 6 standard deviations (about 26 each) is far inside ±200.
            assert!(
                (800..=1200).contains(&n),
                "agent {id} coordinates {n} of 3000"
            );
        }
    }

    #[test]
    fn an_agent_joining_moves_only_the_keys_it_takes() {
        let ks = keys(3000);
        let before = owners(&agents(1..=4), &ks);
        let after = owners(&agents(1..=5), &ks);
        let moved: Vec<_> = before.iter().zip(&after).filter(|(b, a)| b != a).collect();
        assert!(
            moved.iter().all(|(_, a)| **a == 5),
            "a move not to the new agent"
        );
        // About 1/5 move (600); a modulo hash would move about 4/5.
        assert!(
            (450..=750).contains(&moved.len()),
            "{} of 3000 moved",
            moved.len()
        );
    }

    #[test]
    fn an_agent_leaving_moves_only_its_own_keys() {
        let ks = keys(3000);
        let before = owners(&agents(1..=5), &ks);
        let after = owners(&agents([1, 2, 4, 5]), &ks);
        for (b, a) in before.iter().zip(&after) {
            if *b != 3 {
                assert_eq!(b, a, "a key not coordinated by the leaving agent moved");
            } else {
                assert_ne!(*a, 3);
            }
        }
    }
}
