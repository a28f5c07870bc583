//! The ApiVersions table: which APIs this broker serves, and in which versions.
//!
//! A range here is a promise that the handler reads and writes every field of every version in
//! it. It is clamped to what `kafka-protocol` can decode, so a client never picks a version the
//! codec cannot parse.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::VersionRange;

/// The APIs served, with the versions our handlers implement.
const SERVED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 13),
    (ApiKey::Fetch, 4, 17),
    (ApiKey::ListOffsets, 1, 10),
    (ApiKey::Metadata, 0, 13),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::AlterUserScramCredentials, 0, 0),
    (ApiKey::CreateAcls, 0, 3),
    (ApiKey::DescribeAcls, 0, 3),
    (ApiKey::DeleteAcls, 0, 3),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::ShareGroupHeartbeat, 1, 1),
    (ApiKey::ShareGroupDescribe, 1, 1),
    (ApiKey::ShareFetch, 1, 1),
    (ApiKey::ShareAcknowledge, 1, 1),
    (ApiKey::DescribeShareGroupOffsets, 0, 0),
    (ApiKey::AlterShareGroupOffsets, 0, 0),
    (ApiKey::DeleteShareGroupOffsets, 0, 0),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    (ApiKey::ConsumerGroupDescribe, 0, 1),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::DescribeTopicPartitions, 0, 0),
    (ApiKey::DescribeLogDirs, 1, 4),
    (ApiKey::DescribeQuorum, 0, 2),
    (ApiKey::UpdateFeatures, 0, 2),
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::AlterPartitionReassignments, 0, 1),
    (ApiKey::ListPartitionReassignments, 0, 0),
    (ApiKey::DescribeClientQuotas, 0, 1),
    (ApiKey::AlterClientQuotas, 0, 1),
    (ApiKey::AddPartitionsToTxn, 0, 5),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::TxnOffsetCommit, 0, 5),
    (ApiKey::EndTxn, 0, 5),
    (ApiKey::WriteTxnMarkers, 1, 1),
    (ApiKey::ListTransactions, 0, 2),
    (ApiKey::DescribeTransactions, 0, 0),
];

/// APIs `kafka-protocol` has no types for, served through [`crate::streams`]: (key, min, max).
/// StreamsGroupHeartbeat and StreamsGroupDescribe, every version Kafka 4.1-4.4 define.
pub const STREAMS_VERSIONS: &[(i16, i16, i16)] = &[
    (crate::streams::STREAMS_GROUP_HEARTBEAT_KEY, 0, 1),
    (crate::streams::STREAMS_GROUP_DESCRIBE_KEY, 0, 1),
];

/// The lowest Produce version advertised, below what is served. Kafka 4 removed Produce v0-v2
/// (KIP-896) but still advertises v0 (KAFKA-18659): older librdkafka releases enable compression
/// only when a broker lists Produce v0-v2 as usable. Requests at v0-v2 are still refused.
const PRODUCE_ADVERTISED_MIN: i16 = 0;

/// The served range of `api`, or `None` if the API is not served at all.
pub fn supported_range(api: ApiKey) -> Option<VersionRange> {
    let (_, min, max) = SERVED.iter().find(|(k, _, _)| *k == api)?;
    let codec = api.valid_versions();
    Some(VersionRange {
        min: (*min).max(codec.min),
        max: (*max).min(codec.max),
    })
}

/// The `api_keys` list of an ApiVersions response.
pub fn api_versions() -> Vec<ApiVersion> {
    let streams = STREAMS_VERSIONS.iter().map(|(k, min, max)| {
        ApiVersion::default()
            .with_api_key(*k)
            .with_min_version(*min)
            .with_max_version(*max)
    });
    SERVED
        .iter()
        .filter_map(|(k, _, _)| {
            let r = supported_range(*k)?;
            let min = if *k == ApiKey::Produce {
                PRODUCE_ADVERTISED_MIN
            } else {
                r.min
            };
            Some(
                ApiVersion::default()
                    .with_api_key(*k as i16)
                    .with_min_version(min)
                    .with_max_version(r.max),
            )
        })
        .chain(streams)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_ranges_are_within_the_codec() {
        for (k, _, _) in SERVED {
            let r = supported_range(*k).unwrap();
            let c = k.valid_versions();
            assert!(r.min >= c.min && r.max <= c.max && r.min <= r.max, "{k:?}");
        }
        assert_eq!(api_versions().len(), SERVED.len() + STREAMS_VERSIONS.len());
    }
}
