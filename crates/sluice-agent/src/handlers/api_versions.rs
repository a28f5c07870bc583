//! ApiVersions: the versions table from `sluice_protocol::versions`, and the features clients
//! look for before using newer protocols (KIP-932 share groups need `share.version` >= 1;
//! KIP-890's transaction version 2 — epoch bump at every EndTxn, partitions added by Produce —
//! is used by clients when `transaction.version` is finalized at 2; older clients keep using
//! version 1, which is still served).

use kafka_protocol::messages::api_versions_response::{FinalizedFeatureKey, SupportedFeatureKey};
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use sluice_protocol::versions::api_versions;

use super::str_bytes;
use crate::request::RequestContext;

/// `(feature, finalized level)`, advertised as supported `0..=level` and finalized at `level`.
pub(super) const FEATURES: &[(&str, i16)] = &[
    ("group.version", 1),
    ("share.version", 1),
    ("streams.version", 1),
    ("transaction.version", 2),
];

/// Answers one ApiVersions request (API key 18): the served version ranges, supported and finalized
/// features (KIP-584). Never fails.
pub async fn handle(_cx: &RequestContext, _req: ApiVersionsRequest) -> ApiVersionsResponse {
    let mut r = ApiVersionsResponse::default();
    r.api_keys = api_versions();
    r.supported_features = FEATURES
        .iter()
        .map(|(name, level)| {
            let mut f = SupportedFeatureKey::default();
            f.name = str_bytes(*name);
            f.min_version = 0;
            f.max_version = *level;
            f
        })
        .collect();
    r.finalized_features = FEATURES
        .iter()
        .map(|(name, level)| {
            let mut f = FinalizedFeatureKey::default();
            f.name = str_bytes(*name);
            f.min_version_level = *level;
            f.max_version_level = *level;
            f
        })
        .collect();
    r.finalized_features_epoch = 1;
    r
}
