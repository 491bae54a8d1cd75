"""The verdict in three forms: a terminal report like `pulumi preview`, JSON, and a Mermaid graph."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from secure_invoke.preflight.engine.records import PROVIDER_PREFIX, STACK_TYPE, ProgramRun, Resource
from secure_invoke.preflight.outputs.wire import UNKNOWN, plain
from secure_invoke.preflight.packs.analyzer import PackReport, Violation
from secure_invoke.preflight.packs.protocol import Exemption
from secure_invoke.preflight.report.grants import Grant, is_broad, is_public, runs_as_of

SECRET_MASK = "[secret]"  # noqa: S105 (what is shown instead of a secret)


@dataclass
class Result:
    run: ProgramRun
    packs: list[PackReport]
    grants: list[Grant]
    identities: list[Any] = field(default_factory=list)  # deployer check verdicts (preflight.deployer.Verdict)

    @property
    def violations(self) -> list[Violation]:
        return [v for pack in self.packs for v in pack.violations]

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.enforcement_level in ("mandatory", "remediate")]

    @property
    def exemptions(self) -> list[tuple[PackReport, Exemption]]:
        return [(pack, exemption) for pack in self.packs for exemption in pack.exemptions]

    @property
    def exit_code(self) -> int:
        return 1 if self.mandatory or any(v.failing for v in self.identities) else 0


def masked(value: Any) -> Any:
    """Wire value → JSON-safe value with secrets masked (as `pulumi preview --json` does)."""
    return plain(value, SECRET_MASK)


def json_resources(run: ProgramRun) -> list[dict[str, Any]]:
    """The `resources` of the JSON document."""
    return [
        {
            "urn": r.urn,
            "type": r.type,
            "name": r.name,
            "parent": r.parent,
            "custom": r.custom,
            "provider": r.provider,
            "inputs": masked(r.wire_inputs),
            "outputs": masked(r.wire_outputs),
            "dependencies": r.dependencies,
        }
        for r in run.resources
    ]


_SLOT = "\x00resources\x00"  # stands for the resources' text in json_text


def json_text(result: Result, resources_text: str | None = None) -> str:
    """The JSON document as `--json` writes it (indent 2). `resources_text`, when given, is
    `json.dumps(json_resources(run), indent=2)` made beforehand (the bulk of the document, which needs no pack):
    the text is the same as without it."""
    if resources_text is None:
        return json.dumps(to_json(result), indent=2) + "\n"
    text = json.dumps(to_json(result, resources=_SLOT), indent=2)
    nested = resources_text.replace("\n", "\n  ")  # one level deeper, as inside the document
    return text.replace(json.dumps(_SLOT), nested, 1) + "\n"


def to_json(result: Result, resources: Any = None) -> dict[str, Any]:
    run = result.run
    stack = _stack(run)
    return {
        "project": run.project,
        "stack": run.stack,
        "preview": run.preview,
        "resources": json_resources(run) if resources is None else resources,
        "outputs": masked(stack.wire_outputs) if stack is not None else {},
        "policyPacks": [
            {
                "name": p.name,
                "version": p.version,
                "policies": p.policies,
                "unknownConfig": [{"name": n, "didYouMean": p.closest_policy(n)} for n in p.unknown_config],
                "unknownExemptions": [u.as_json() for u in p.unknown_exemptions],
            }
            for p in result.packs
        ],
        "violations": [v.as_json() for v in result.violations],
        "exemptions": [e.as_json(pack.name) for pack, e in result.exemptions],
        "grants": [g.as_dict() for g in result.grants],
        "engine": run.notes,
        "unknownApplies": run.unknown_applies,
        "diagnostics": program_diagnostics(run),
        **({"deployerCheck": _identities_json(result)} if result.identities else {}),
    }


def _identities_json(result: Result) -> list[dict[str, Any]]:
    from secure_invoke.preflight.deployer.report import to_json as verdict_json

    return [verdict_json(verdict) for verdict in result.identities]


def program_diagnostics(run: ProgramRun) -> list[str]:
    """What the program logged as warnings and errors (pulumi.log), as the report's "Diagnostics:" shows it."""
    return [line for line in run.logs if line.startswith(("warning:", "error:"))]


def _stack(run: ProgramRun) -> Resource | None:
    return next((r for r in run.resources if r.type == STACK_TYPE), None)


def display_type(type_: str) -> str:
    """`gcp:cloudrunv2/service:Service` → `gcp:cloudrunv2:Service`, as the CLI shows types."""
    parts = type_.split(":")
    if len(parts) == 3 and "/" in parts[1]:
        return f"{parts[0]}:{parts[1].split('/', 1)[0]}:{parts[2]}"
    return type_


def _short(value: Any) -> str:
    if value == UNKNOWN:
        return "output<string>"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _strip_description(violation: Violation) -> str:
    message = violation.message
    if violation.description and message.startswith(violation.description):
        message = message[len(violation.description) :].lstrip("\n")
    return message.strip() or violation.description


def _shown(run: ProgramRun) -> dict[str | None, list[Resource]]:
    """Resources by parent URN, as the CLI's tree shows them (providers hidden)."""
    by_parent: dict[str | None, list[Resource]] = defaultdict(list)
    for resource in run.resources:
        if not resource.type.startswith(PROVIDER_PREFIX):
            by_parent[resource.parent].append(resource)
    return by_parent


def _tree(run: ProgramRun, by_parent: dict[str | None, list[Resource]], console: Console) -> None:
    def label(resource: Resource) -> Text:
        return Text.assemble(("+ ", "green"), (display_type(resource.type), "bold"), "  ", resource.name)

    def grow(node: Tree, resource: Resource) -> None:
        for child in sorted(by_parent.get(resource.urn, []), key=lambda r: (r.type, r.name)):
            grow(node.add(label(child)), child)

    stack = _stack(run)
    if stack is not None:
        tree = Tree(label(stack), guide_style="dim")
        grow(tree, stack)
        console.print(tree)
    console.print()


def _outputs(run: ProgramRun, console: Console) -> None:
    stack = _stack(run)
    outputs = stack.outputs if stack is not None else {}
    if not outputs:
        return
    console.print(Text("Outputs:", style="bold"))
    secret_outputs = {k for k, v in (stack.wire_outputs if stack else {}).items() if masked(v) == SECRET_MASK}
    width = max(len(k) for k in outputs)
    for key in sorted(outputs):
        value = SECRET_MASK if key in secret_outputs else _short(outputs[key])
        console.print(Text(f"    {key:<{width}} : {value}"), soft_wrap=True)
    console.print()


def _diagnostics(run: ProgramRun, console: Console) -> None:
    diagnostics = program_diagnostics(run)
    if diagnostics:
        # What the program logged through pulumi.log, as the CLI's "Diagnostics:" section shows it.
        console.print(Text("Diagnostics:", style="bold"))
        for line in diagnostics:
            console.print(Text(f"    {line}", style="yellow"), soft_wrap=True)
        console.print()


def _assumptions(run: ProgramRun, console: Console) -> None:
    if run.notes:
        # Where preflight stood in for what the CLI and the cloud would know: the provider config's
        # source, stack references without outputs, an interpreter preflight could not use.
        console.print(Text("Engine:", style="bold"))
        for note in run.notes:
            style = "yellow" if note.startswith("warning:") else "dim"
            console.print(Text(f"    {note}", style=style), soft_wrap=True)
        console.print()


def _resources(by_parent: dict[str | None, list[Resource]], console: Console) -> None:
    shown = sum(len(v) for v in by_parent.values())
    custom = sum(1 for rs in by_parent.values() for r in rs if r.custom)
    console.print(Text("Resources:", style="bold"))
    console.print(
        Text.assemble("    ", ("+ ", "green"), f"{shown} to create ({custom} custom, {shown - custom} components)")
    )
    console.print()


def _grant_role(grant: Grant) -> str:
    """The role as the table and the graph show it: a conditional grant says its condition's title."""
    return f"{grant.role} (if {grant.condition})" if grant.condition else grant.role


_GAP = 2  # between the table's columns (padding 1 on each side, none at the edges)


def _column_widths(natural: list[int], available: int) -> list[int]:
    """Member, role and resource widths that fit `available` — folded rather than ever cut off.

    Emails read badly folded: the member column keeps its full width up to half the line, the role
    column up to half of what is left; the resource column gets the rest.
    """
    if sum(natural) <= available:
        return natural
    member_natural, role_natural, resource_natural = natural
    member = min(member_natural, max(available // 2, available - role_natural - resource_natural))
    rest = available - member
    role = min(role_natural, max(rest // 2, rest - resource_natural))
    return [max(1, member), max(1, role), max(1, rest - role)]


def _grants(grants: list[Grant], console: Console) -> None:
    console.print(Text(f"IAM grants ({len(grants)}):", style="bold"))
    if not grants:
        console.print("    none")
        console.print()
        return
    grants = sorted(grants, key=lambda g: (g.member, g.role, g.resource))
    headers = ("member", "role", "resource")
    rows = [(g.member, _grant_role(g), g.resource) for g in grants]
    natural = [max(len(header), *(len(row[i]) for row in rows)) for i, header in enumerate(headers)]
    # Fixed widths that add up to the line: rich would otherwise cut a table wider than the console at its
    # edge (piped output, CI logs), losing the end of the resource column.
    widths = _column_widths(natural, console.width - _GAP * (len(headers) - 1))
    table = Table(show_edge=False, box=None, pad_edge=False, header_style="bold")
    for header, width in zip(headers, widths, strict=True):
        table.add_column(header, width=width, overflow="fold")
    for grant, (member, role, resource) in zip(grants, rows, strict=True):
        member_style = "red bold" if is_public(grant.member) else ""
        table.add_row(Text(member, style=member_style), role, resource)
    console.print(table)
    console.print()


def _pack(pack: PackReport, by_urn: dict[str, Resource], console: Console) -> None:
    failed = any(v.enforcement_level in ("mandatory", "remediate") for v in pack.violations)
    mark = ("✘ ", "red bold") if failed else ("✔ ", "green bold")
    console.print(
        Text.assemble("    ", mark, f"{pack.name}@v{pack.version}", (f" ({len(pack.policies)} policies)", "dim"))
    )
    for name in pack.unknown_config:
        closest = pack.closest_policy(name)
        hint = f"; did you mean '{closest}'?" if closest else ""
        warning = f"        warning: --policy-pack-config names '{name}', which is not a policy of this pack{hint}"
        console.print(Text(warning, "yellow"), soft_wrap=True)
    for unknown in pack.unknown_exemptions:
        hint = f"; did you mean {unknown.did_you_mean}?" if unknown.did_you_mean else ""
        warning = (
            f"        warning: {unknown.policy}: the exemption of {unknown.urn} names no resource of this stack{hint}"
        )
        console.print(Text(warning, "yellow"), soft_wrap=True)
    grouped: dict[tuple[str, str], list[Violation]] = defaultdict(list)
    for violation in pack.violations:
        grouped[(violation.policy, violation.enforcement_level)].append(violation)
    order = {"mandatory": 0, "remediate": 0, "advisory": 1, "disabled": 2}
    for (policy, level), violations in sorted(grouped.items(), key=lambda kv: (order.get(kv[0][1], 3), kv[0][0])):
        style = "red" if level in ("mandatory", "remediate") else "yellow"
        console.print(Text.assemble("        - ", (f"[{level}]", style), "  ", (policy, "bold")))
        console.print(Text(f"          {violations[0].description}", style="dim"), soft_wrap=True)
        entries = []
        for violation in violations:
            resource = by_urn.get(violation.urn)
            where = f"{display_type(resource.type)}: {resource.name}" if resource else (violation.urn or "stack")
            entries.append(Text.assemble("          ", (where, "cyan"), "  ", _strip_description(violation)))
        console.print(Group(*entries), soft_wrap=True)
    exempted: dict[str, list[Exemption]] = defaultdict(list)
    for exemption in pack.exemptions:
        exempted[exemption.policy].append(exemption)
    for policy in sorted(exempted):
        # What the config exempted, with its reason: visible, never blocking.
        console.print(Text.assemble("        - ", ("[exempted]", "dim"), "  ", (policy, "bold")))
        entries = []
        for exemption in exempted[policy]:
            resource = by_urn.get(exemption.urn)
            where = f"{display_type(resource.type)}: {resource.name}" if resource else exemption.urn
            entries.append(Text.assemble("          ", (where, "cyan"), "  ", (f"reason: {exemption.reason}", "dim")))
        console.print(Group(*entries), soft_wrap=True)


def _verdict(result: Result, shown: int, console: Console) -> None:
    mandatory = result.mandatory
    advisory = len(result.violations) - len(mandatory)
    providers = sum(1 for r in result.run.resources if r.type.startswith(PROVIDER_PREFIX))
    # The same count as "to create" above; providers are counted apart, as the CLI hides them.
    counts = (
        f"{shown} resources + {providers} provider(s), {len(result.grants)} grants, {len(result.packs)} policy pack(s)"
    )
    exempted = f", {len(result.exemptions)} exempted" if result.exemptions else ""
    failing = [v.identity for v in result.identities if v.failing]
    if failing:
        counts += f"; deployer check failed for {', '.join(failing)}"
    if mandatory:
        text = (
            f"  {len(mandatory)} mandatory violation(s), {advisory} advisory{exempted} — `pulumi up` would be blocked "
            f"({counts})"
        )
        console.print(Text.assemble(("✘ FAIL", "red bold"), text))
    elif failing:
        text = f"  no mandatory violations, {advisory} advisory{exempted} ({counts})"
        console.print(Text.assemble(("✘ FAIL", "red bold"), text))
    else:
        text = f"  no mandatory violations, {advisory} advisory{exempted} ({counts})"
        console.print(Text.assemble(("✔ PASS", "green bold"), text))


def render(result: Result, console: Console) -> None:
    """The report, section by section, in the order `pulumi preview` prints them."""
    render_head(result.run, result.grants, console)
    render_policies(result, console)


def render_head(run: ProgramRun, grants: list[Grant], console: Console) -> None:
    """What the report says before the policies: the program's resources, outputs, notes and grants (which
    preflight renders while the packs analyze the stack)."""
    mode = "preview: computed outputs unknown" if run.preview else "known outputs, as `pulumi up` enforces"
    console.print(Text.assemble(("Previewing update ", "bold"), (f"({run.stack})", "bold"), f"  offline, {mode}"))
    console.print()
    by_parent = _shown(run)
    _tree(run, by_parent, console)
    _outputs(run, console)
    _diagnostics(run, console)
    _assumptions(run, console)
    _resources(by_parent, console)
    _grants(grants, console)


def render_policies(result: Result, console: Console) -> None:
    """The policies' findings and the verdict line."""
    run = result.run
    console.print(Text("Policies:", style="bold"))
    by_urn = run.by_urn()
    for pack in result.packs:
        _pack(pack, by_urn, console)
    if result.identities:
        from secure_invoke.preflight.deployer.report import render as render_identities

        render_identities(result.identities, console)
    console.print()
    _verdict(result, sum(len(v) for v in _shown(run).values()), console)


def _label(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def to_mermaid(result: Result) -> str:
    """Identities → roles → resources, plus which identity each workload runs as."""
    ids: dict[str, str] = {}

    def node(key: str) -> str:
        if key not in ids:
            ids[key] = f"n{len(ids)}"
        return ids[key]

    identity_lines: list[str] = []
    resource_lines: list[str] = []
    edges: list[str] = []
    public: list[str] = []
    seen_members: set[str] = set()
    seen_resources: set[str] = set()

    def identity(member: str) -> str:
        node_id = node(f"member:{member}")
        if member not in seen_members:
            seen_members.add(member)
            identity_lines.append(f'    {node_id}(["{_label(member)}"])')
            if is_broad(member):  # public, a whole domain or customer, a wildcard set: as the pack judges it
                public.append(node_id)
        return node_id

    def target(name: str) -> str:
        node_id = node(f"resource:{name}")
        if name not in seen_resources:
            seen_resources.add(name)
            resource_lines.append(f'    {node_id}["{_label(name)}"]')
        return node_id

    conditional: list[int] = []  # edge indices, for linkStyle
    for grant in result.grants:
        if grant.condition:
            conditional.append(len(edges))
        edges.append(f'  {identity(grant.member)} -- "{_label(_grant_role(grant))}" --> {target(grant.resource)}')
    for runs_as in runs_as_of(result.run.resources):
        edges.append(f'  {target(runs_as.workload)} -. "runs as: {runs_as.path}" .-> {identity(runs_as.member)}')

    lines = ["flowchart LR", "  subgraph identities"]
    lines += identity_lines
    lines += ["  end", "  subgraph resources"]
    lines += resource_lines
    lines += ["  end"]
    lines += edges
    if conditional:
        # A conditional grant (an IAM condition) is dashed: it reads as less than the role on the whole resource.
        lines.append(f"  linkStyle {','.join(map(str, conditional))} stroke-dasharray:6 4")
    if public:
        lines.append("  classDef public fill:#fdd,stroke:#c00,color:#900")
        lines.append(f"  class {','.join(public)} public")
    return "\n".join(lines) + "\n"
