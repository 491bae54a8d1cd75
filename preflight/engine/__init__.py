"""The engine: runs a Pulumi Python program as the Pulumi CLI and its Python language host do, offline.

- `program` — `run_program`: one run, its own gRPC server and program process, recorded;
- `project` — Pulumi.yaml and the stack's config, as the CLI hands them to a program;
- `interpreter` — which Python runs the program; `launcher` — the script started on it (imports nothing of ours);
- `monitor` — the ResourceMonitor service the program's SDK talks to; `registry` — URNs, default providers,
  every registration; `log_service` — the Engine service programs and packs log to;
- `offline_provider` — stands in for every provider: asks `providers/` first, then `outputs/`;
- `provenance` — where each input came from (secrets, outputs, functions, config, key files in archives), for packs;
- `stack_references` — other stacks' outputs; `failures` — one line for why a run failed;
- `records` — what a run leaves behind (`Resource`, `ProgramRun`), read by `packs/` and `report/`.

Something the CLI does for every program (a protocol call, a config rule) goes here; what one provider
would answer goes in `providers/`.
"""
