//! Applying [`TableCommand`]s to the state (see [`crate::tables`] for the model).

use uuid::Uuid;

use crate::codes;
use crate::command::CommandResponse;
use crate::state::MetaState;
use crate::tables::{TableCommand, TableLease, TableState, LEASE_NOT_HELD};

fn error(code: i16, message: String) -> CommandResponse {
    CommandResponse::Error { code, message }
}

/// The table of `topic` if it belongs to the topic's current incarnation `topic_id`;
/// otherwise a fresh one replaces what was there.
fn table_for<'a>(s: &'a mut MetaState, topic: &str, topic_id: Uuid) -> &'a mut TableState {
    let t = s.tables.entry(topic.to_string()).or_default();
    if t.topic_id != topic_id {
        *t = TableState {
            topic_id,
            ..TableState::default()
        };
    }
    t
}

fn holds(t: &TableState, agent_id: i32, now_ms: i64) -> Result<(), CommandResponse> {
    match t.lease {
        Some(l) if l.agent_id == agent_id && l.expires_ms > now_ms => Ok(()),
        other => Err(error(
            LEASE_NOT_HELD,
            format!("agent {agent_id} does not hold the table lease ({other:?})"),
        )),
    }
}

/// Applies a table command (deterministic: the clock comes in the command).
pub fn apply(s: &mut MetaState, cmd: &TableCommand) -> CommandResponse {
    let (topic, topic_id) = match cmd {
        TableCommand::Lease {
            topic, topic_id, ..
        } => (topic, *topic_id),
        TableCommand::Commit(c) => (&c.topic, c.topic_id),
    };
    let Some(hwms) = s.topics.get(topic).filter(|t| t.id == topic_id).map(|t| {
        t.partitions
            .iter()
            .map(|p| p.high_watermark)
            .collect::<Vec<_>>()
    }) else {
        return error(
            codes::UNKNOWN_TOPIC_OR_PARTITION,
            format!("no topic {topic} with id {topic_id}"),
        );
    };
    let t = table_for(s, topic, topic_id);
    match cmd {
        TableCommand::Lease {
            agent_id,
            now_ms,
            lease_ms,
            ..
        } => {
            if let Some(l) = t.lease {
                if l.agent_id != *agent_id && l.expires_ms > *now_ms {
                    return error(
                        LEASE_NOT_HELD,
                        format!("agent {} holds the table lease", l.agent_id),
                    );
                }
            }
            t.lease = Some(TableLease {
                agent_id: *agent_id,
                expires_ms: now_ms + lease_ms,
            });
            CommandResponse::Ok
        }
        TableCommand::Commit(c) => {
            if let Err(e) = holds(t, c.agent_id, c.now_ms) {
                return e;
            }
            if c.version != t.version + 1 {
                return error(
                    codes::INVALID_REQUEST,
                    format!(
                        "table commit {} does not follow commit {}",
                        c.version, t.version
                    ),
                );
            }
            let moves_back = c
                .next_offsets
                .iter()
                .enumerate()
                .any(|(p, &o)| o < t.next_offsets.get(p).copied().unwrap_or(0));
            let beyond = c.next_offsets.len() > hwms.len()
                || c.next_offsets.iter().zip(&hwms).any(|(o, h)| o > h);
            if moves_back || beyond || c.next_offsets.len() < t.next_offsets.len() {
                return error(
                    codes::INVALID_REQUEST,
                    format!(
                        "table offsets {:?} do not follow {:?} within {:?}",
                        c.next_offsets, t.next_offsets, hwms
                    ),
                );
            }
            t.version = c.version;
            t.next_offsets = c.next_offsets.clone();
            t.metadata = c.metadata.clone();
            t.records += c.records;
            t.malformed += c.malformed;
            t.committed_ms = c.now_ms;
            t.lease = Some(TableLease {
                agent_id: c.agent_id,
                expires_ms: c.now_ms + c.lease_ms,
            });
            CommandResponse::Ok
        }
    }
}
