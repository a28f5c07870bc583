# One role per kind of node. Both may touch only the cluster's prefix of the bucket; metadata
# nodes may also attach their zone's volume and network interface, agents read the TLS secret.

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "bucket" {
  # HeadBucket (the start-up check) and listing, only under the prefix. IfExists: HeadBucket
  # carries no prefix.
  statement {
    sid       = "ListPrefix"
    actions   = ["s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:GetBucketLocation"]
    resources = [local.bucket_arn]
    condition {
      test     = "StringLikeIfExists"
      variable = "s3:prefix"
      values   = [var.bucket_prefix, "${var.bucket_prefix}/*"]
    }
  }
  statement {
    sid = "ObjectsUnderPrefix"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${local.bucket_arn}/${var.bucket_prefix}/*"]
  }
  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "BucketKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
  dynamic "statement" {
    for_each = length(local.express_buckets) == 0 ? [] : [1]
    content {
      sid       = "ExpressOneZone"
      actions   = ["s3express:CreateSession"]
      resources = [for b in aws_s3_directory_bucket.express : b.arn]
    }
  }
}

data "aws_iam_policy_document" "meta" {
  # Attaching a volume encrypted with a customer managed key needs a grant for EC2.
  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "VolumeKeyGrant"
      actions   = ["kms:CreateGrant", "kms:DescribeKey"]
      resources = [statement.value]
      condition {
        test     = "Bool"
        variable = "kms:GrantIsForAWSResource"
        values   = ["true"]
      }
    }
  }
  statement {
    sid       = "Describe"
    actions   = ["ec2:DescribeVolumes", "ec2:DescribeNetworkInterfaces"]
    resources = ["*"]
  }
  # Attach this cluster's volumes and interfaces to this cluster's instances only.
  statement {
    sid     = "AttachOwnVolumeAndInterface"
    actions = ["ec2:AttachVolume", "ec2:AttachNetworkInterface"]
    resources = [
      "arn:${data.aws_partition.current.partition}:ec2:${local.region}:${data.aws_caller_identity.current.account_id}:volume/*",
      "arn:${data.aws_partition.current.partition}:ec2:${local.region}:${data.aws_caller_identity.current.account_id}:network-interface/*",
      "arn:${data.aws_partition.current.partition}:ec2:${local.region}:${data.aws_caller_identity.current.account_id}:instance/*",
    ]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/sluice:cluster"
      values   = [var.name]
    }
  }
}

data "aws_iam_policy_document" "agent_tls" {
  count = local.tls ? 1 : 0
  statement {
    sid       = "TlsCertificate"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.tls_secret_arn]
  }
}

resource "aws_iam_role" "node" {
  for_each           = toset(["meta", "agent"])
  name               = "${var.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = local.tags
}

resource "aws_iam_role_policy" "bucket" {
  for_each = aws_iam_role.node
  name     = "bucket-prefix"
  role     = each.value.id
  policy   = data.aws_iam_policy_document.bucket.json
}

resource "aws_iam_role_policy" "meta" {
  name   = "attach-volume-and-interface"
  role   = aws_iam_role.node["meta"].id
  policy = data.aws_iam_policy_document.meta.json
}

resource "aws_iam_role_policy" "agent_tls" {
  count  = local.tls ? 1 : 0
  name   = "tls-certificate"
  role   = aws_iam_role.node["agent"].id
  policy = data.aws_iam_policy_document.agent_tls[0].json
}

resource "aws_iam_role_policy_attachment" "ecr" {
  for_each   = local.ecr_image ? aws_iam_role.node : {}
  role       = each.value.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
}

resource "aws_iam_role_policy_attachment" "ssm" {
  for_each   = var.enable_ssm ? aws_iam_role.node : {}
  role       = each.value.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "node" {
  for_each = aws_iam_role.node
  name     = "${var.name}-${each.key}"
  role     = each.value.name
  tags     = local.tags
}
