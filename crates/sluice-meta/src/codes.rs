//! The Kafka error codes the state machine answers with. The metadata layer does not depend
//! on the wire crate; these numbers are Kafka's and never change.

/// Kafka's `NONE` (0): success.
pub const NONE: i16 = 0;
/// Kafka's `CORRUPT_MESSAGE` (2): a record batch failed its CRC or is truncated (not returned by
/// the state machine).
pub const CORRUPT_MESSAGE: i16 = 2;
/// Kafka's `UNKNOWN_TOPIC_OR_PARTITION` (3): the command names a topic (or topic id) or partition
/// the state does not hold.
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// Kafka's `REQUEST_TIMED_OUT` (7): an append whose object upload is older than its `max_age_ms`,
/// or a compaction swap whose output upload is too old.
pub const REQUEST_TIMED_OUT: i16 = 7;
/// Kafka's `INVALID_TOPIC_EXCEPTION` (17): a topic name Kafka's `Topic.validate` refuses (not
/// returned by the state machine).
pub const INVALID_TOPIC_EXCEPTION: i16 = 17;
/// Kafka's `TOPIC_ALREADY_EXISTS` (36): CreateTopics for a name that is taken.
pub const TOPIC_ALREADY_EXISTS: i16 = 36;
/// Kafka's `INVALID_PARTITIONS` (37): a partition count of zero or less, or CreatePartitions that
/// does not grow the topic.
pub const INVALID_PARTITIONS: i16 = 37;
/// Kafka's `UNSUPPORTED_VERSION` (35): an OffsetCommit below v9 from a member of a KIP-848 consumer
/// or streams group.
pub const UNSUPPORTED_VERSION: i16 = 35;
/// Kafka's `INVALID_CONFIG` (40): a config entry Kafka refuses (not returned by the state machine).
pub const INVALID_CONFIG: i16 = 40;
/// Kafka's `INVALID_REQUEST` (42): a well-formed command the state refuses (bad share
/// acknowledgement range, out-of-order table commit, ...).
pub const INVALID_REQUEST: i16 = 42;
/// Kafka's `INVALID_PRODUCER_EPOCH` (47): a produce or transaction request with an older producer
/// epoch.
pub const INVALID_PRODUCER_EPOCH: i16 = 47;
/// Kafka's `OUT_OF_ORDER_SEQUENCE_NUMBER` (45): an idempotent batch whose first sequence does not
/// follow the last one (KIP-98).
pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
/// Kafka's `DUPLICATE_SEQUENCE_NUMBER` (46): not returned by the state machine (duplicates answer
/// with the original offset).
pub const DUPLICATE_SEQUENCE_NUMBER: i16 = 46;
/// Kafka's `UNKNOWN_PRODUCER_ID` (59): InitProducerId with a producer id the state does not hold
/// (KIP-360 epoch bump).
pub const UNKNOWN_PRODUCER_ID: i16 = 59;
/// KIP-588's `PRODUCER_FENCED` (90): a newer epoch of the same producer or transactional id exists.
pub const PRODUCER_FENCED: i16 = 90;
/// Kafka's `RESOURCE_NOT_FOUND` (91): deleting a SCRAM credential that does not exist.
pub const RESOURCE_NOT_FOUND: i16 = 91;
/// Kafka's `ILLEGAL_GENERATION` (22): a classic-group request (or offset commit) with another
/// generation than the group's.
pub const ILLEGAL_GENERATION: i16 = 22;
/// Kafka's `INCONSISTENT_GROUP_PROTOCOL` (23): a join whose protocol type or protocols do not fit
/// the group, or a group id used by another group type.
pub const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
/// Kafka's `UNKNOWN_MEMBER_ID` (25): the member id is not a member of the group.
pub const UNKNOWN_MEMBER_ID: i16 = 25;
/// Kafka's `REBALANCE_IN_PROGRESS` (27): a classic group is preparing or completing a rebalance.
pub const REBALANCE_IN_PROGRESS: i16 = 27;
/// Kafka's `NON_EMPTY_GROUP` (68): DeleteGroups (or a share-group offset change) on a group that
/// still has members.
pub const NON_EMPTY_GROUP: i16 = 68;
/// Kafka's `GROUP_ID_NOT_FOUND` (69): the group does not exist (or is not of the type the request
/// needs).
pub const GROUP_ID_NOT_FOUND: i16 = 69;
/// Kafka's `FENCED_INSTANCE_ID` (82): a static member (KIP-345 `group.instance.id`) replaced by a
/// newer member id.
pub const FENCED_INSTANCE_ID: i16 = 82;
/// Kafka's `INVALID_RECORD_STATE` (121): a KIP-932 share acknowledgement for a record not acquired
/// by that member.
pub const INVALID_RECORD_STATE: i16 = 121;

// Transactions (KIP-98, KIP-1050).
/// Kafka's `INVALID_TXN_STATE` (48): a transactional request not allowed in the transaction's
/// current state.
pub const INVALID_TXN_STATE: i16 = 48;
/// Kafka's `INVALID_PRODUCER_ID_MAPPING` (49): the transactional id is unknown or maps to another
/// producer id.
pub const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
/// Kafka's `INVALID_TRANSACTION_TIMEOUT` (50): InitProducerId with a timeout above
/// `transaction.max.timeout.ms` (checked by the agent).
pub const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
/// Kafka's `CONCURRENT_TRANSACTIONS` (51): not returned here; Sluice fences and aborts the ongoing
/// transaction at once instead.
pub const CONCURRENT_TRANSACTIONS: i16 = 51;
/// Kafka's `TRANSACTIONAL_ID_AUTHORIZATION_FAILED` (53): the principal may not write or describe
/// the transactional id (agent ACL check).
pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
/// Kafka's `OPERATION_NOT_ATTEMPTED` (55): AddPartitionsToTxn partitions skipped because another
/// partition in the request failed.
pub const OPERATION_NOT_ATTEMPTED: i16 = 55;
/// Kafka's `TRANSACTIONAL_ID_NOT_FOUND` (105): DescribeTransactions for an unknown transactional
/// id.
pub const TRANSACTIONAL_ID_NOT_FOUND: i16 = 105;
/// Kafka's `TRANSACTION_ABORTABLE` (120): KIP-1050's abortable error (the client must abort); the
/// agent raises INVALID_TXN_STATE to it for newer request versions.
pub const TRANSACTION_ABORTABLE: i16 = 120;
/// Kafka's `TOPIC_AUTHORIZATION_FAILED` (29): the principal may not use the topic (agent ACL
/// check).
pub const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
/// Kafka's `GROUP_AUTHORIZATION_FAILED` (30): the principal may not use the group (agent ACL
/// check).
pub const GROUP_AUTHORIZATION_FAILED: i16 = 30;
/// Kafka's `CLUSTER_AUTHORIZATION_FAILED` (31): the principal lacks a cluster permission (e.g.
/// ClusterAction for WriteTxnMarkers).
pub const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
/// Kafka's `UNKNOWN_SERVER_ERROR` (-1): an unexpected failure with no more specific code.
pub const UNKNOWN_SERVER_ERROR: i16 = -1;
/// Kafka's `INVALID_REGULAR_EXPRESSION` (128): ListTransactions with a transactional-id pattern
/// that does not compile (checked by the agent).
pub const INVALID_REGULAR_EXPRESSION: i16 = 128;
