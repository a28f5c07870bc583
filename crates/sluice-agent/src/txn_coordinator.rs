//! What the transaction APIs' handlers share: the gate (WRITE on the transactional id), the
//! proposal of a [`TxnCommand`] to the quorum, and the version-dependent error codes.
//!
//! Kafka places each transactional id on one broker (the leader of its `__transaction_state`
//! partition) because that broker holds the id's state in memory. Sluice's transaction state is
//! quorum state and every command is checked where it is applied, so any agent can serve any
//! id; FindCoordinator still names one agent per id (the same placement as groups), which keeps
//! a producer's requests on one connection.
//!
//! Timed-out transactions are aborted by [`abort_timed_out`], run by the agent holding the
//! background duty: it proposes [`TxnCommand::Expire`] with its clock when its replica shows
//! a transaction past its timeout or an id past `transactional.id.expiration.ms`.

use sluice_meta::codes;
use sluice_meta::command::{Command, CommandResponse};
use sluice_meta::txn::TxnCommand;

use crate::agent::Agent;
use crate::authz::{Op, Res};
use crate::clock::now_ms;
use crate::handlers::ApiError;
use crate::request::RequestContext;

/// The transactional APIs, for the error codes each version's clients understand: KIP-588's
/// PRODUCER_FENCED (older clients get INVALID_PRODUCER_EPOCH) and KIP-1050's
/// TRANSACTION_ABORTABLE (older clients get INVALID_TXN_STATE), as Kafka answers them.
#[derive(Debug, Clone, Copy)]
pub enum TxnApi {
    /// InitProducerId (22): PRODUCER_FENCED from v4.
    InitProducerId,
    /// AddPartitionsToTxn (24): PRODUCER_FENCED from v2.
    AddPartitionsToTxn,
    /// AddOffsetsToTxn (25): PRODUCER_FENCED from v2.
    AddOffsetsToTxn,
    /// TxnOffsetCommit (28): PRODUCER_FENCED from v3.
    TxnOffsetCommit,
    /// EndTxn (26): PRODUCER_FENCED from v2.
    EndTxn,
}

impl TxnApi {
    fn producer_fenced_since(self) -> i16 {
        match self {
            TxnApi::InitProducerId => 4,
            TxnApi::AddPartitionsToTxn | TxnApi::AddOffsetsToTxn | TxnApi::EndTxn => 2,
            TxnApi::TxnOffsetCommit => 3,
        }
    }

    /// The first version whose clients take TRANSACTION_ABORTABLE for a request outside its
    /// transaction (Kafka 4.2+; none for the APIs that never answer it).
    fn abortable_since(self) -> Option<i16> {
        match self {
            TxnApi::TxnOffsetCommit => Some(4),
            _ => None,
        }
    }

    /// The code a client of `version` gets for `code`: KIP-588's PRODUCER_FENCED folded back
    /// into INVALID_PRODUCER_EPOCH for older versions; INVALID_TXN_STATE (a request outside
    /// its transaction) raised to KIP-1050's TRANSACTION_ABORTABLE for newer ones.
    pub fn code_for(self, version: i16, code: i16) -> i16 {
        if code == codes::PRODUCER_FENCED && version < self.producer_fenced_since() {
            codes::INVALID_PRODUCER_EPOCH
        } else if code == codes::INVALID_TXN_STATE
            && self.abortable_since().is_some_and(|v| version >= v)
        {
            codes::TRANSACTION_ABORTABLE
        } else {
            code
        }
    }
}

/// WRITE on the transactional id, as every transactional request needs; the error is
/// TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
pub fn gate(cx: &RequestContext, transactional_id: &str) -> Result<(), i16> {
    if transactional_id.is_empty() {
        return Err(codes::INVALID_REQUEST);
    }
    if cx.authorize(Op::Write, Res::TransactionalId(transactional_id)) {
        Ok(())
    } else {
        Err(codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    }
}

/// Proposes a transaction command; a refusal by the state machine or quorum trouble comes
/// back as the Kafka error code (and message) the client gets.
pub async fn propose(agent: &Agent, cmd: TxnCommand) -> Result<CommandResponse, ApiError> {
    agent.propose_admin(Command::Txn(cmd)).await
}

/// One round of the timeout and expiration duty: proposes [`TxnCommand::Expire`] if the
/// replica shows anything due.
pub async fn abort_timed_out(agent: &Agent) {
    let now = now_ms();
    let id_expiration_ms = agent.cfg.transactional_id_expiration.as_millis() as i64;
    let due = agent.read(|s| sluice_meta::txn::expiry_due(&s.transactions, now, id_expiration_ms));
    if !due {
        return;
    }
    let cmd = TxnCommand::Expire {
        now_ms: now,
        id_expiration_ms,
    };
    match agent.propose(Command::Txn(cmd)).await {
        Ok(_) => tracing::info!("timed-out transactions aborted, idle transactional ids expired"),
        Err(e) => tracing::warn!(error = ?e, "transaction expiry proposal failed"),
    }
}

/// `(topic, partition)` pairs of a request's topics, in request order.
pub fn partitions_of<'a, T: 'a>(
    topics: impl IntoIterator<Item = &'a T>,
    parts: impl Fn(&'a T) -> (&'a str, &'a [i32]),
) -> Vec<(String, i32)> {
    topics
        .into_iter()
        .flat_map(|t| {
            let (name, ps) = parts(t);
            ps.iter().map(move |p| (name.to_string(), *p))
        })
        .collect()
}

/// Per-partition answers grouped by topic for a response, keeping request order: consecutive
/// partitions of one topic share an entry.
pub fn by_topic<T>(
    answers: impl IntoIterator<Item = ((String, i32), T)>,
) -> Vec<(String, Vec<(i32, T)>)> {
    let mut out: Vec<(String, Vec<(i32, T)>)> = Vec::new();
    for ((topic, p), answer) in answers {
        match out.last_mut() {
            Some((t, ps)) if *t == topic => ps.push((p, answer)),
            _ => out.push((topic, vec![(p, answer)])),
        }
    }
    out
}
