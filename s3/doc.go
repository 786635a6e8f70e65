// Package s3 is LSMStore's S3 API: a fasthttp server that authenticates
// requests (SigV4, or a bucket policy for unsigned ones), routes them to
// engine operations, renders XML bodies and S3 errors, and answers CORS
// preflights from bucket rules. It also serves what operators use: the
// health and admin-info endpoints MinIO deployments probe, Prometheus
// metrics, and the LSMStore admin API (stats, drives, and compaction,
// verify and heal jobs) that lsmctl drives.
package s3
