# The bucket: segments and raft snapshots, under var.bucket_prefix.

resource "aws_s3_bucket" "data" {
  #checkov:skip=CKV_AWS_18:access logging needs a second (log) bucket; S3 server access logs of every segment PUT/GET are costly and the module leaves that choice to the operator (add aws_s3_bucket_logging outside).
  #checkov:skip=CKV_AWS_144:cross-region replication doubles storage and is a disaster-recovery choice outside this module.
  #checkov:skip=CKV_AWS_21:versioning is off on purpose: segments are immutable and deleted by retention and the janitor; versions would keep every deleted segment billed.
  #checkov:skip=CKV2_AWS_62:no consumer of S3 event notifications; Sluice learns about objects through its metadata quorum.
  count         = var.create_bucket ? 1 : 0
  bucket        = var.bucket_name
  force_destroy = var.bucket_force_destroy
  tags          = local.tags
}

resource "aws_s3_bucket_public_access_block" "data" {
  count                   = var.create_bucket ? 1 : 0
  bucket                  = aws_s3_bucket.data[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "data" {
  count  = var.create_bucket ? 1 : 0
  bucket = aws_s3_bucket.data[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "data" {
  count  = var.create_bucket ? 1 : 0
  bucket = aws_s3_bucket.data[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "data" {
  count  = var.create_bucket ? 1 : 0
  bucket = aws_s3_bucket.data[0].id
  # The whole bucket: the module owns it.
  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_days
    }
  }
}

# Only TLS requests, from anyone holding IAM permissions (which the instance role has, for the
# prefix only).
resource "aws_s3_bucket_policy" "data" {
  count  = var.create_bucket ? 1 : 0
  bucket = aws_s3_bucket.data[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [local.bucket_arn, "${local.bucket_arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
  depends_on = [aws_s3_bucket_public_access_block.data]
}

# Optional S3 Express One Zone directory buckets, one per zone (see var.express_one_zone).
resource "aws_s3_directory_bucket" "express" {
  for_each      = local.express_buckets
  bucket        = each.value
  force_destroy = var.bucket_force_destroy
  location {
    name = data.aws_availability_zone.zone[each.key].zone_id
    type = "AvailabilityZone"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "express" {
  for_each = local.express_buckets
  bucket   = aws_s3_directory_bucket.express[each.key].bucket
  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_days
    }
  }
}
