"""preflight: `pulumi preview` with policy packs, offline — a local engine for Pulumi Python programs.

The API the README describes:

- `run_program(program_dir, stack, overrides=None, preview=False, on_register=None, *, python=None,
  stack_references=None, project=None) -> ProgramRun`, raising `ProgramError` with a one-line cause;
- `ProgramRun` (`.resources`, `.outputs`, `.by_urn()`, `.of_type()`, `.notes`) of `Resource` records;
- `grants_of(resources) -> list[Grant]`: who may do what on which resource;
- `evaluate(run, packs, config_files=()) -> list[PackReport]`: policy packs on a recorded run;
- `load_project(program_dir, stack, overrides=None) -> Project`, raising `ConfigError`;
- `stack_urn(project, stack)`.
"""

from secure_invoke.preflight.engine.program import ProgramError, run_program
from secure_invoke.preflight.engine.project import ConfigError, Project, load_project
from secure_invoke.preflight.engine.records import ProgramRun, Resource, stack_urn
from secure_invoke.preflight.packs.analyzer import PackError, PackReport, Violation, evaluate
from secure_invoke.preflight.report.grants import Grant, grants_of

__all__ = [
    "ConfigError",
    "Grant",
    "PackError",
    "PackReport",
    "ProgramError",
    "ProgramRun",
    "Project",
    "Resource",
    "Violation",
    "evaluate",
    "grants_of",
    "load_project",
    "run_program",
    "stack_urn",
]
