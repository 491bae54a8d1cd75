"""secure-invoke-guardrails: pure GCP IAM/identity rules plus a thin pulumi-policy adapter."""
