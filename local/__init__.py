"""Local mode: the relay, the worker and a metadata-server stand-in as real processes."""
