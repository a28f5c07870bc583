//! UpdateFeatures (57): `kafka-features upgrade|downgrade`.
//!
//! Sluice's features ([`FEATURES`], advertised by ApiVersions) are fixed by its code: each is
//! finalized at the highest level it supports. An update to the finalized level succeeds (no
//! change, as in Kafka); an unknown feature or a level outside the supported range gets
//! Kafka's INVALID_UPDATE_VERSION with the controller's words; any other level is refused
//! with a message saying the level is fixed. As in Kafka's controller, one failing feature fails
//! the whole request: only the top-level error is sent (v0-1 list each feature's success).
//! The API needs ALTER on the cluster.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::update_features_response::UpdatableFeatureResult;
use kafka_protocol::messages::{UpdateFeaturesRequest, UpdateFeaturesResponse};

use super::api_versions::FEATURES;
use super::{cluster_denied, str_bytes, ApiError};
use crate::authz::{Op, Res};
use crate::request::RequestContext;

/// Answers one UpdateFeatures request (API key 57): success only for updates to the finalized
/// level; otherwise one top-level error code.
pub async fn handle(cx: &RequestContext, req: UpdateFeaturesRequest) -> UpdateFeaturesResponse {
    let agent = &*cx.agent;
    let version = cx.api_version;
    let mut resp = UpdateFeaturesResponse::default();
    resp.error_message = None;
    let outcome = if !cx.authorize(Op::Alter, Res::Cluster) {
        Err(cluster_denied())
    } else {
        req.feature_updates
            .iter()
            .try_for_each(|u| check(agent.id(), &u.feature, u.max_version_level))
            .map_err(|e| {
                ApiError::new(
                    ResponseError::InvalidUpdateVersion,
                    format!(
                        "The update failed for all features since the following feature had an error: {}",
                        e.message.unwrap_or_default()
                    ),
                )
            })
    };
    if let Err(e) = &outcome {
        resp.error_code = e.code;
        resp.error_message = e.message.clone().map(str_bytes);
    }
    // v0-1 list each feature's outcome, and nothing when the request failed as a whole (Kafka).
    if version < 2 && outcome.is_ok() {
        resp.results = req
            .feature_updates
            .iter()
            .map(|u| {
                let mut r = UpdatableFeatureResult::default();
                r.feature = u.feature.clone();
                r.error_message = None;
                r
            })
            .collect();
    }
    resp
}

/// Whether `feature` may be set to `level`: only its finalized level is accepted.
fn check(controller: i32, feature: &str, level: i16) -> Result<(), ApiError> {
    let invalid = |m: String| Err(ApiError::new(ResponseError::InvalidUpdateVersion, m));
    let Some((_, finalized)) = FEATURES.iter().find(|(f, _)| *f == feature) else {
        return invalid(format!(
            "Invalid update version {level} for feature {feature}. Local controller {controller} does not support this feature."
        ));
    };
    if !(0..=*finalized).contains(&level) {
        return invalid(format!(
            "Invalid update version {level} for feature {feature}. Local controller {controller} only supports versions 0-{finalized}"
        ));
    }
    if level != *finalized {
        return invalid(format!(
            "Invalid update version {level} for feature {feature}. Sluice's features are fixed: {feature} stays at {finalized}."
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_finalized_level_is_accepted() {
        assert!(check(1, "group.version", 1).is_ok());
        assert_eq!(
            check(1, "group.version", 5).unwrap_err().message.unwrap(),
            "Invalid update version 5 for feature group.version. Local controller 1 only supports versions 0-1"
        );
        assert_eq!(
            check(1, "nosuch.version", 1).unwrap_err().message.unwrap(),
            "Invalid update version 1 for feature nosuch.version. Local controller 1 does not support this feature."
        );
        assert_eq!(check(1, "group.version", 0).unwrap_err().code, 95);
    }
}
