"""The worker service: a private Cloud Run service that runs jobs forwarded by the relay."""
