//! ApiVersions: the versions table from `sluice_protocol::versions`.

use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use sluice_protocol::versions::api_versions;

pub fn handle(_req: ApiVersionsRequest, _version: i16) -> ApiVersionsResponse {
    let mut r = ApiVersionsResponse::default();
    r.api_keys = api_versions();
    r
}
