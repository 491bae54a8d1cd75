"""What particular providers compute beyond what their SDK's types say: Google Cloud, random, std, docker-build.

- `gcp` — computed outputs of Google Cloud resource types (one function per type token), and Google's
  defaults for what a program leaves unset; `gcp_functions` — Google Cloud invokes;
  `gcp_config` — `gcp:project`/`region`/`zone` from stack config or the environment, and where a resource is;
- `docker_build` — pulumi-docker-build images; `random` — pulumi-random resources; `std` — pulumi-std functions;
- `autoname` — which property each kind of provider autonames during Check;
- `tokens` — the table from type (or invoke) token to the function that answers for it.

A new Google Cloud resource type whose outputs derive from its inputs is one `@_BY_TYPE.of(token)` function in
`gcp`; a new provider is a module here, asked by `engine/offline_provider`.
"""
