"""What the user reads: the verdict as a terminal report, JSON and a Mermaid graph, and the IAM grants in them.

- `verdict` — `Result` and its forms: `render` (like `pulumi preview`, in two parts: `render_head` needs no
  pack), `to_json`, `to_mermaid`;
- `grants` — who may do what on which resource, from the IAM resources of a run;
- `progress` — while a run goes: the live line on a terminal, and the phase timings of `--timings`.

A new report format is a function of `Result` next to `to_json` in `verdict`, with its flag in `__main__`.
"""
