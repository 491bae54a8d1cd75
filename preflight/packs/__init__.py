"""Policy packs, evaluated through their real analyzer process in the order the engine calls them.

- `analyzer` — `evaluate` and `Packs`: the engine's sequence (config, Analyze per resource, AnalyzeStack);
- `process` — a pack's analyzer process, started as the Pulumi CLI starts a Python pack;
- `protocol` — the requests sent to a pack and its answers read back as violations and exemptions;
- `config` — `--policy-pack-config`, reconciled and validated as the CLI does.

How preflight talks to any pack goes here; a policy itself belongs to the pack (`policies/`), not here.
"""
