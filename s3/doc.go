// Package s3 is LSMStore's S3 API: a fasthttp server that routes S3
// requests to engine operations, renders XML bodies and S3 errors, and
// serves the health and admin endpoints MinIO deployments probe.
package s3
