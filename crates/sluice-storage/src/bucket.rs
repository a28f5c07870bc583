//! Checking (and on request creating) the S3 bucket behind an `s3://` store at start.
//!
//! `object_store` reads and writes objects but cannot ask whether a bucket exists, create one,
//! or set its lifecycle rules; without this check an agent pointed at a missing bucket, or
//! holding wrong credentials, would start, accept producers, and fail only when its first
//! segment is flushed. [`ensure_bucket`] runs once at start, with `aws-sdk-s3` (the only use of
//! it: every data read and write stays on `object_store`):
//!
//! - `HeadBucket`: exists and is accessible → [`BucketStatus::Exists`];
//! - missing (`404`) and `create` → `CreateBucket` (a general purpose bucket in the configured
//!   region, or an S3 Express One Zone *directory bucket* when the name ends in
//!   `--<zone-id>--x-s3`), then a lifecycle rule aborting multipart uploads left incomplete for
//!   a day (on general purpose buckets) → [`BucketStatus::Created`];
//! - anything else → a [`BucketError`] whose one-line `Display` names the bucket, the endpoint
//!   and the store's error, which the binary prints before exiting non-zero.
//!
//! Credentials and region come from the usual AWS chain (environment, profile, web identity,
//! ECS and EC2 instance metadata), as for `object_store`.

use std::fmt;
use std::time::Duration;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketInfo, BucketLifecycleConfiguration,
    BucketLocationConstraint, BucketType, CreateBucketConfiguration, DataRedundancy,
    ExpirationStatus, LifecycleRule, LifecycleRuleFilter, LocationInfo, LocationType,
};

use crate::store::ObjectStoreConfig;

/// Suffix of S3 Express One Zone directory bucket names (`base--usw2-az1--x-s3`).
pub const DIRECTORY_BUCKET_SUFFIX: &str = "--x-s3";
/// Id of the lifecycle rule [`ensure_bucket`] puts on the buckets it creates.
pub const ABORT_MULTIPART_RULE_ID: &str = "sluice-abort-incomplete-multipart-uploads";
/// Region used when neither the configuration nor the AWS chain names one (S3-compatible
/// servers such as MinIO and moto accept any).
const FALLBACK_REGION: &str = "us-east-1";
/// Bound on each S3 call made at start: a wrong endpoint fails fast instead of hanging.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// What [`ensure_bucket`] found (or did).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketStatus {
    /// The store is not `s3://` (a local directory or memory): nothing to check.
    NotS3,
    /// The bucket exists and these credentials may use it.
    Exists,
    /// The bucket was missing and has been created.
    Created,
}

/// Why the bucket of an `s3://` store cannot be used.
#[derive(Debug, thiserror::Error)]
pub struct BucketError {
    /// The bucket name.
    pub bucket: String,
    /// The endpoint asked (`--s3-endpoint`, or AWS's regional endpoint).
    pub endpoint: String,
    /// What went wrong.
    pub kind: BucketErrorKind,
}

/// The cause of a [`BucketError`], coarse enough to match on.
#[derive(Debug)]
pub enum BucketErrorKind {
    /// `HeadBucket` answered 404 and creating was not asked for.
    Missing,
    /// `HeadBucket` answered 403: wrong credentials, or no permission on this bucket.
    AccessDenied(String),
    /// `CreateBucket` failed.
    CreateFailed(String),
    /// Any other error of the endpoint (unreachable, wrong region, bad name...).
    Other(String),
}

impl fmt::Display for BucketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bucket '{}' at endpoint {}: ",
            self.bucket, self.endpoint
        )?;
        match &self.kind {
            BucketErrorKind::Missing => write!(
                f,
                "the bucket does not exist (NoSuchBucket); create it, or start with --create-bucket"
            ),
            BucketErrorKind::AccessDenied(e) => write!(
                f,
                "access denied (wrong credentials, or no permission on this bucket): {e}"
            ),
            BucketErrorKind::CreateFailed(e) => write!(f, "creating the bucket failed: {e}"),
            BucketErrorKind::Other(e) => write!(f, "{e}"),
        }
    }
}

/// The bucket and key prefix of an `s3://bucket[/prefix]` URL; `None` for other schemes.
pub fn s3_bucket_and_prefix(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("s3://")?;
    Some(match rest.split_once('/') {
        Some((b, p)) => (b, p.trim_matches('/')),
        None => (rest, ""),
    })
}

/// The availability zone id of an S3 Express One Zone directory bucket name
/// (`base--usw2-az1--x-s3` → `usw2-az1`); `None` for a general purpose bucket name.
pub fn directory_bucket_zone(bucket: &str) -> Option<&str> {
    let base = bucket.strip_suffix(DIRECTORY_BUCKET_SUFFIX)?;
    base.rsplit_once("--")
        .map(|(_, zone)| zone)
        .filter(|z| !z.is_empty())
}

/// Checks that the bucket of `cfg` exists and is usable with the current credentials, creating
/// it when missing if `create` is set (see the module docs). Stores that are not `s3://`
/// answer [`BucketStatus::NotS3`] at once.
///
/// Errors: a [`BucketError`] naming the bucket, the endpoint and the cause.
pub async fn ensure_bucket(
    cfg: &ObjectStoreConfig,
    create: bool,
) -> Result<BucketStatus, BucketError> {
    let Some((bucket, prefix)) = s3_bucket_and_prefix(&cfg.url) else {
        return Ok(BucketStatus::NotS3);
    };
    let (client, region) = s3_client(cfg).await;
    let endpoint = cfg
        .s3_endpoint
        .clone()
        .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com (AWS, region {region})"));
    let fail = |kind| BucketError {
        bucket: bucket.to_string(),
        endpoint: endpoint.clone(),
        kind,
    };
    match client.head_bucket().bucket(bucket).send().await {
        Ok(_) => return Ok(BucketStatus::Exists),
        Err(e) => match status_of(&e) {
            Some(404) if create => {}
            Some(404) => return Err(fail(BucketErrorKind::Missing)),
            Some(403) => return Err(fail(BucketErrorKind::AccessDenied(describe(&e)))),
            _ => return Err(fail(BucketErrorKind::Other(describe(&e)))),
        },
    }
    create_bucket(&client, bucket, &region)
        .await
        .map_err(|e| fail(BucketErrorKind::CreateFailed(e)))?;
    if directory_bucket_zone(bucket).is_none() {
        // Not fatal: the bucket works without it; incomplete uploads just cost until removed.
        if let Err(e) = put_abort_multipart_rule(&client, bucket, prefix).await {
            tracing::warn!(bucket, error = %e, "could not add the lifecycle rule aborting incomplete multipart uploads");
        }
    }
    Ok(BucketStatus::Created)
}

/// An S3 client for `cfg` (region and endpoint as configured; path-style with an endpoint, as
/// MinIO and most S3-compatible servers need), and the region it uses.
async fn s3_client(cfg: &ObjectStoreConfig) -> (aws_sdk_s3::Client, String) {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(
        aws_config::timeout::TimeoutConfig::builder()
            .operation_timeout(CALL_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build(),
    );
    // An S3-compatible server ignores the region: without one configured, do not let the AWS
    // chain go looking for it in instance metadata.
    let region = cfg.s3_region.clone().or_else(|| {
        let from_env = ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|r| !r.is_empty()));
        from_env.or_else(|| {
            cfg.s3_endpoint
                .as_ref()
                .map(|_| FALLBACK_REGION.to_string())
        })
    });
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r));
    }
    let shared = loader.load().await;
    let region = shared
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| FALLBACK_REGION.to_string());
    let mut b = aws_sdk_s3::config::Builder::from(&shared)
        .region(aws_sdk_s3::config::Region::new(region.clone()));
    if let Some(ep) = &cfg.s3_endpoint {
        b = b.endpoint_url(ep).force_path_style(true);
    } else if cfg.s3_path_style {
        b = b.force_path_style(true);
    }
    (aws_sdk_s3::Client::from_conf(b.build()), region)
}

/// `CreateBucket`; a bucket created meanwhile by another process (every agent of a new
/// cluster may start with `--create-bucket` at once) counts as success.
///
/// The `String` errors here and in [`put_abort_multipart_rule`] are [`describe`]'s one line of
/// the SDK error, on purpose: it becomes a [`BucketErrorKind`] (or a warning) that the binary
/// prints as the reason it stops, and the SDK errors' own cause chains are noisy ("service
/// error", "unhandled error (...)") where `describe` gives the S3 code, message and status.
async fn create_bucket(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    region: &str,
) -> Result<(), String> {
    let mut req = client.create_bucket().bucket(bucket);
    if let Some(zone) = directory_bucket_zone(bucket) {
        req = req.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location(
                    LocationInfo::builder()
                        .r#type(LocationType::AvailabilityZone)
                        .name(zone)
                        .build(),
                )
                .bucket(
                    BucketInfo::builder()
                        .r#type(BucketType::Directory)
                        .data_redundancy(DataRedundancy::SingleAvailabilityZone)
                        .build(),
                )
                .build(),
        );
    } else if region != FALLBACK_REGION {
        req = req.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    match req.send().await {
        Ok(_) => {
            tracing::info!(bucket, region, "created the bucket");
            Ok(())
        }
        Err(e) if e.code() == Some("BucketAlreadyOwnedByYou") => Ok(()),
        Err(e) => Err(describe(&e)),
    }
}

/// Aborts multipart uploads under `prefix` left incomplete for a day (a crashed agent's
/// unfinished segment upload would otherwise be billed forever).
async fn put_abort_multipart_rule(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<(), String> {
    let rule = LifecycleRule::builder()
        .id(ABORT_MULTIPART_RULE_ID)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
        .abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(1)
                .build(),
        )
        .build()
        .map_err(|e| e.to_string())?;
    let config = BucketLifecycleConfiguration::builder()
        .rules(rule)
        .build()
        .map_err(|e| e.to_string())?;
    client
        .put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(config)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| describe(&e))
}

/// The HTTP status of a service error, if the request got an answer.
fn status_of<E, R>(e: &SdkError<E, R>) -> Option<u16>
where
    R: HttpStatus,
{
    e.raw_response().map(HttpStatus::status_code)
}

/// Gives access to the HTTP status of the SDK's raw response type.
trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// One line: the error code and message when the service answered, else the chain of causes
/// (their `Display`s, without the SDK's debug dumps).
fn describe<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = status_of(e).map(|s| format!("HTTP {s}"));
    match (e.code(), e.message(), status) {
        (Some(code), Some(msg), Some(s)) => format!("{code}: {msg} ({s})"),
        (Some(code), None, Some(s)) => format!("{code} ({s})"),
        (None, _, Some(s)) => s,
        _ => cause_chain(e),
    }
}

/// `a: b: c` from an error and its sources, skipping a cause its parent already spelled out.
fn cause_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bucket_prefix_and_directory_zone() {
        assert_eq!(s3_bucket_and_prefix("s3://b/p/q/"), Some(("b", "p/q")));
        assert_eq!(s3_bucket_and_prefix("s3://b"), Some(("b", "")));
        assert_eq!(s3_bucket_and_prefix("file:///x"), None);
        assert_eq!(
            directory_bucket_zone("segments--use1-az4--x-s3"),
            Some("use1-az4")
        );
        assert_eq!(directory_bucket_zone("plain-bucket"), None);
        assert_eq!(directory_bucket_zone("--x-s3"), None);
    }
}
