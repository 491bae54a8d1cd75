"""`preflight`: `pulumi preview` with policy packs, offline — no Pulumi CLI, no cloud credentials.

Exit 0: no mandatory violation. 1: at least one mandatory violation. 2: the program, its config or a
policy pack is broken (one-line cause; the traceback with --debug).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from concurrent import futures
from pathlib import Path
from typing import Any

from rich.console import Console

from secure_invoke import __version__
from secure_invoke.preflight.engine import stack_references
from secure_invoke.preflight.engine.program import ProgramError, run_program
from secure_invoke.preflight.engine.project import ConfigError, load_project
from secure_invoke.preflight.engine.records import ProgramRun, Resource
from secure_invoke.preflight.packs.analyzer import PackError, Packs, StackContext
from secure_invoke.preflight.packs.config import PolicyConfigError
from secure_invoke.preflight.report import progress as phases
from secure_invoke.preflight.report.grants import Grant, grants_of
from secure_invoke.preflight.report.progress import Progress
from secure_invoke.preflight.report.verdict import (
    Result,
    json_resources,
    json_text,
    render_head,
    render_policies,
    to_mermaid,
)

# The secure_invoke package: this repository in place (its entries link to the top-level folders), or the
# installed wheel; either way its policies/ is this project's policy pack.
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m secure_invoke.preflight",
        description="Run a Pulumi Python program against a local engine with a stack's config and evaluate "
        "policy packs through their real analyzer — offline.",
        epilog="exit codes: 0 no mandatory violation (advisories allowed); 1 at least one mandatory violation "
        "(with --deployer/--previewer also: a permission missing, a grant unused, a resource type unknown, a deploy "
        "precondition unmet); 2 the program, its config, a policy pack or its config is broken (one line "
        "`error: <cause>` on stderr, the traceback with --debug)",
    )
    parser.add_argument(
        "--program", type=Path, default=Path("."), help="program directory (default: the current directory)"
    )
    parser.add_argument("--stack", default="dev", help="stack name; reads Pulumi.<stack>.yaml (default: dev)")
    parser.add_argument(
        "--policy-pack",
        dest="policy_packs",
        action="append",
        type=Path,
        metavar="DIR",
        help="policy pack directory, repeatable (default: secure-invoke's own pack, secure_invoke/policies)",
    )
    parser.add_argument(
        "--policy-pack-config",
        dest="policy_pack_configs",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="JSON config for the policy pack in the same position (alone: for the default pack), repeatable",
    )
    parser.add_argument("--preview", action="store_true", help="reproduce a real preview: computed outputs unknown")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the result as JSON ('-' for stdout)")
    parser.add_argument(
        "--graph",
        type=Path,
        metavar="FILE",
        help="write identities and grants as a Mermaid flowchart (a FILE ending in .md gets a ```mermaid fence)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        type=_key_value,
        default=[],
        metavar="KEY=VALUE",
        help="override a config value for this run (bare keys use the project namespace)",
    )
    parser.add_argument(
        "--python",
        type=Path,
        metavar="PATH",
        help="the interpreter to run the program on (default: Pulumi.yaml's virtualenv/toolchain, else this one)",
    )
    parser.add_argument(
        "--stack-reference",
        dest="stack_references",
        action="append",
        type=_key_value,
        default=[],
        metavar="NAME=FILE",
        help="outputs of the stack a pulumi.StackReference names: `pulumi stack output --json` or a preflight "
        "--json result, repeatable (without one, the reference's outputs are unknown)",
    )
    identities = parser.add_argument_group(
        "deployer check",
        "what the identity that runs `pulumi up` (or `pulumi preview`) needs, against what it holds: its grants are "
        "read from the program and from --stack-reference files that are preflight --json results (e.g. the "
        "bootstrap's); MEMBER is serviceAccount:…, user:…, or REFERENCE:OUTPUT naming a stack output",
    )
    identities.add_argument("--deployer", metavar="MEMBER", help="check the identity that runs `pulumi up`")
    identities.add_argument(
        "--deployer-role",
        dest="deployer_roles",
        action="append",
        default=[],
        metavar="ROLE[@SCOPE]",
        help="a role the deployer holds (on SCOPE, default the stack's project), repeatable; alone or with --deployer",
    )
    identities.add_argument("--previewer", metavar="MEMBER", help="check the identity that runs `pulumi preview`")
    identities.add_argument(
        "--previewer-role", dest="previewer_roles", action="append", default=[], metavar="ROLE[@SCOPE]",
        help="a role the previewer holds, repeatable",
    )  # fmt: skip
    identities.add_argument("--backend-url", metavar="URL", help="the state backend (gs://…, or REFERENCE:OUTPUT)")
    identities.add_argument(
        "--secrets-provider", metavar="URL", help="the stack's secrets provider (gcpkms://…, or REFERENCE:OUTPUT)"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and policy pack logs")
    parser.add_argument(
        "--timings",
        type=Path,
        metavar="FILE",
        help="write the run's phase timings (wall seconds) and each process's CPU seconds as JSON",
    )
    parser.add_argument("--version", action="version", version=f"preflight (secure-invoke {__version__})")
    return parser


def _identity_specs(args: argparse.Namespace) -> list[Any]:
    if not (args.deployer or args.deployer_roles or args.previewer or args.previewer_roles):
        return []
    from secure_invoke.preflight.deployer import PREVIEW, UP, IdentitySpec

    specs = []
    if args.deployer or args.deployer_roles:
        specs.append(IdentitySpec("--deployer", UP, args.deployer, tuple(args.deployer_roles)))
    if args.previewer or args.previewer_roles:
        specs.append(IdentitySpec("--previewer", PREVIEW, args.previewer, tuple(args.previewer_roles)))
    return specs


class _IdentityProblem(Exception):
    """A deployer-check flag that cannot be used, or its data missing (one line)."""


def _check_identities(args: argparse.Namespace, run: Any, references: dict[str, Any]) -> list[Any]:
    """The deployer check, only when asked for (nothing of it is loaded otherwise). With `run` None, only
    validates the flags (before the program runs)."""
    specs = _identity_specs(args)
    if not specs:
        return []
    from secure_invoke.preflight.deployer import IdentityError, backend_from, check_identity
    from secure_invoke.preflight.deployer.data import DataError
    from secure_invoke.preflight.deployer.holdings import load_recorded, resolve_member, run_from_json

    try:
        backend = backend_from(args.backend_url, args.secrets_provider, references)
        if run is None:
            for spec in specs:
                if spec.member:
                    resolve_member(spec.member, references, spec.flag)
            return []
        recorded = []
        for name, file in args.stack_references:
            document = load_recorded(Path(file))
            if document is not None:
                recorded.append(run_from_json(document, name))
        return [check_identity(run, spec, references, recorded, backend) for spec in specs]
    except (IdentityError, DataError) as exc:
        raise _IdentityProblem(str(exc)) from exc


def _console(stderr: bool) -> Console:
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        console = Console(stderr=stderr, highlight=False, width=int(os.environ.get("COLUMNS", "200")))
    return console


def _head(run: ProgramRun, out: Console, rendered: bool, document: bool) -> tuple[list[Grant], str, str | None]:
    """What needs no pack, made while the packs analyze the stack: the run's grants, the report up to its policies
    as `out` would print it (when a report is printed), the JSON text of the resources (when JSON is written)."""
    grants = grants_of(run.resources)
    resources = json.dumps(json_resources(run), indent=2) if document else None
    if not rendered:
        return grants, "", resources
    with out.capture() as captured:  # rich's buffer is per thread: this thread's output only
        render_head(run, grants, out)
    return grants, captured.get(), resources


def _fail(console: Console, message: str, details: str, debug: bool) -> int:
    if debug and details:
        console.print(details, markup=False, highlight=False, soft_wrap=True)
    console.print(f"error: {message}", style="red", markup=False, highlight=False, emoji=False, soft_wrap=True)
    return 2


def main(argv: Sequence[str] | None = None, stdout: Console | None = None, stderr: Console | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Colour only on a terminal (rich decides; NO_COLOR is honoured). Elsewhere, e.g. CI logs, wide
    # plain lines beat folding long member emails at 80 columns.
    out = stdout or _console(stderr=False)
    err = stderr or _console(stderr=True)
    # Unlike the CLI, --policy-pack has a default, so a lone --policy-pack-config pairs with it.
    packs: list[Path] = args.policy_packs or [PACKAGE_ROOT / "policies"]

    try:
        project = load_project(args.program, args.stack, dict(args.overrides))
        references = stack_references.parse(args.stack_references)
        _check_identities(args, None, references)  # the deployer-check flags, before anything runs
    except ConfigError as exc:
        return _fail(err, str(exc), "", args.debug)
    except _IdentityProblem as exc:
        return _fail(err, str(exc), "", args.debug)
    context = StackContext(project.name, args.stack, args.preview, project.config, project.secret_keys)
    progress = Progress(err)
    progress.phase(phases.STARTING)
    try:
        # Packs start first and analyze resources while the program registers them, as in the engine.
        with (
            progress,
            futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="report") as report_pool,
            Packs(context, packs, args.policy_pack_configs) as sessions,
        ):
            progress.packs, progress.analyzed = sessions.count, sessions.analyzed

            def on_register(resource: Resource, provider: Resource | None) -> None:
                progress.on_register()
                sessions.on_register(resource, provider)

            progress.phase(phases.PROGRAM)
            try:
                run = run_program(
                    args.program,
                    args.stack,
                    preview=args.preview,
                    on_register=on_register,
                    python=args.python,
                    stack_references=references,
                    project=project,
                )
            except (ProgramError, PackError):
                sessions.started()  # a pack that failed to start stopped the program: its error is the cause
                raise
            progress.phase(phases.ANALYZE)
            sessions.started()
            run.notes.extend(note for session in sessions.sessions for note in session.report.notes)
            # The report's first part needs no pack's findings: rendered while the packs analyze the stack.
            head = report_pool.submit(_head, run, out, str(args.json) != "-", args.json is not None)
            reports = sessions.finish(run, on_stack=lambda: progress.phase(phases.STACK))
    except ProgramError as exc:
        return _fail(err, exc.args[0], exc.details, args.debug)
    except (PackError, PolicyConfigError) as exc:
        return _fail(err, str(exc), traceback.format_exc(), args.debug)
    progress.phase(phases.REPORT)
    progress.cpu.update(program=run.cpu_seconds, packs=sessions.cpu_seconds)

    grants, head_text, resources_text = head.result()
    try:
        verdicts = _check_identities(args, run, references)
    except _IdentityProblem as exc:
        return _fail(err, str(exc), traceback.format_exc(), args.debug)
    result = Result(run=run, packs=reports, grants=grants, identities=verdicts)
    try:
        if args.json is not None:
            document = json_text(result, resources_text)
            if str(args.json) == "-":
                sys.stdout.write(document)
            else:
                args.json.write_text(document, encoding="utf-8")
        if args.graph is not None:
            graph = to_mermaid(result)
            if args.graph.suffix.lower() == ".md":
                # A Markdown file (a job summary, a PR comment) renders a diagram only inside a mermaid fence.
                graph = f"```mermaid\n{graph}```\n"
            args.graph.write_text(graph, encoding="utf-8")
    except OSError as exc:
        return _fail(err, f"cannot write {exc.filename}: {exc.strerror}", traceback.format_exc(), args.debug)

    if str(args.json) != "-":
        out.file.write(head_text)
        render_policies(result, out)
    if args.debug:
        for line in run.logs + [log for report in reports for log in report.logs]:
            err.print(line, markup=False, highlight=False, soft_wrap=True)
    if args.timings is not None:
        try:
            args.timings.write_text(json.dumps(progress.timings(), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            return _fail(err, f"cannot write {exc.filename}: {exc.strerror}", traceback.format_exc(), args.debug)
    return result.exit_code


def console_script() -> None:
    """`preflight` and `python -m secure_invoke.preflight`."""
    # grpc's C core logs to stderr; keep its chatter out of the report unless asked for.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    sys.exit(main())


if __name__ == "__main__":
    console_script()
