"""Generate preflight/deployer/provider_methods.json: for each pulumi-gcp resource type, the Google REST methods
the provider calls to create, read, update and delete it (and, for IAM resources, to get and set the policy).

    python -m tools.provider_methods --magic-modules DIR --pulumi-gcp DIR --discovery WHEEL [--check]

Inputs, all public and read as they are (nothing of them is committed but the derived table):
- `--magic-modules`: a clone (or bare git directory) of GoogleCloudPlatform/magic-modules, the source the
  Terraform provider that pulumi-gcp bridges is generated from. Generated resources are read from
  `mmv1/products/<product>/<Resource>.yaml` (`base_url`, `self_link`, `create_url`, `create_verb`,
  `update_url`, `update_verb`, `delete_url`, `async`, `iam_policy`, per-property `update_url`); handwritten
  ones from the Go files under `mmv1/third_party/terraform/services/` (the client calls and `SendRequest` URLs
  of each resource's Create/Read/Update/Delete functions and of the IAM updaters' Get/SetResourceIamPolicy).
- `--pulumi-gcp`: a clone (or bare git directory) of pulumi/pulumi-gcp: `bridge-metadata.json` maps each
  Terraform resource name to its Pulumi type token.
- `--discovery`: the google-api-python-client wheel (`pip download google-api-python-client --no-deps`), whose
  static discovery documents turn an HTTP verb and URL into the REST method id (`run.projects.locations.
  services.create`) that `gcp-api-method-permissions.json.gz` keys its permissions by.

Each call the provider makes is matched to exactly one discovery method (verb and path); a call that matches
none is kept under `unresolved` and the check reports that type's step as unknown, never as passed. The table is
written one type per line so a provider update diffs by type. `--check` compares with the committed table.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
TABLE_PATH = REPO_ROOT / "preflight" / "deployer" / "provider_methods.json"
TABLE_FORMAT = 1
STEPS = ("create", "read", "update", "delete")
IAM_KINDS = ("member", "binding", "policy")
_VAR = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_VAR_SPLIT = re.compile(r"(\{\{\s*[A-Za-z0-9_]+\s*\}\})")
_LOOSE = "[^:]+"  # a provider variable that may hold a whole resource path
_BODY_START = re.compile(r"\{[ \t]*\n")
_TMPL_ESCAPE = re.compile(r'\{\{"(\{\{|\}\})"\}\}')
_TMPL_DIRECTIVE = re.compile(r"\{\{-?\s*(?:if|else|end|range|with|template|define)\b[^}]*-?\}\}")


class SourceError(Exception):
    """An input is missing or not in the expected shape (one line)."""


# --- reading the inputs ---------------------------------------------------------------------------------------


@dataclass
class GitTree:
    """Files of one commit of a clone or bare git directory, read with `git show` (no work tree needed)."""

    path: Path
    commit: str = ""
    _batch: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.commit = self._git("rev-parse", "HEAD").strip()

    def _git(self, *args: str) -> str:
        try:
            done = subprocess.run(["git", "-C", str(self.path), *args], capture_output=True, text=True, check=True)
        except (OSError, subprocess.CalledProcessError) as error:
            raise SourceError(f"{self.path}: git {' '.join(args[:2])} failed") from error
        return done.stdout

    def files(self, under: str) -> list[str]:
        return self._git("ls-tree", "-r", "--name-only", self.commit, under).splitlines()

    def read(self, path: str) -> str:
        if self._batch is None:
            self._batch = subprocess.Popen(
                ["git", "-C", str(self.path), "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
        assert self._batch.stdin is not None and self._batch.stdout is not None
        self._batch.stdin.write(f"{self.commit}:{path}\n".encode())
        self._batch.stdin.flush()
        header = self._batch.stdout.readline().decode().split()
        if len(header) != 3:
            raise SourceError(f"{self.path}: no {path} at {self.commit[:12]}")
        data = self._batch.stdout.read(int(header[2]) + 1)
        return data[:-1].decode("utf-8", "replace")

    def date(self) -> str:
        return self._git("show", "-s", "--format=%cs", self.commit).strip()


@dataclass(frozen=True)
class Method:
    id: str
    verb: str
    patterns: tuple[re.Pattern[str], ...]  # flatPath first (one segment per variable), then path (`{+x}`: many)
    flat_sample: str  # the flatPath with each variable as `X`


@dataclass
class Discovery:
    """REST methods of every API in the wheel's discovery documents, by `<api>.<version>`."""

    wheel: Path
    docs: dict[str, tuple[str, list[Method]]] = field(default_factory=dict)  # name.version -> (service path, methods)
    version: str = ""

    def __post_init__(self) -> None:
        try:
            archive = zipfile.ZipFile(self.wheel)
        except (OSError, zipfile.BadZipFile) as error:
            raise SourceError(f"{self.wheel}: not a wheel ({error})") from error
        with archive:
            for name in archive.namelist():
                if name.endswith(".dist-info/METADATA"):
                    for line in archive.read(name).decode().splitlines():
                        if line.startswith("Version:"):
                            self.version = line.split(":", 1)[1].strip()
                if "discovery_cache/documents/" not in name or not name.endswith(".json"):
                    continue
                document = json.loads(archive.read(name))
                key = f"{document.get('name')}.{document.get('version')}"
                self.docs[key] = (str(document.get("servicePath") or ""), list(_methods(document)))
        if not self.docs:
            raise SourceError(f"{self.wheel}: no discovery documents inside")

    def api_versions(self, api: str) -> list[str]:
        return [key for key in self.docs if key.split(".", 1)[0] == api]

    def match(self, api: str, version: str, verb: str, path: str, hint: str = "") -> str | None:
        """The method id of `verb path` (path relative to the API's root, variables as `{{x}}`).

        Three ways, strictest first, each accepted only when it names one method: the call with each variable as
        one segment against the method's flatPath; the call with variables of any length (`{{key_ring}}` is a
        whole `projects/.../keyRings/r`) against the flatPath with its variables filled in; the call against the
        method's `path` (`{+name}`: any length)."""
        keys = [f"{api}.{version}"] + [k for k in self.api_versions(api) if k != f"{api}.{version}"]
        template = path.split("?", 1)[0].strip("/")
        sample = _VAR.sub("X", template)
        parts = [part for part in _VAR_SPLIT.split(template) if part]
        # A variable inside the path may hold a whole parent path; the last one names the resource itself.
        loose = re.compile(
            "".join(
                (_LOOSE if i < len(parts) - 1 and not parts[i + 1].startswith(":") else "[^/:]+")
                if part.startswith("{{")
                else re.escape(part)
                for i, part in enumerate(parts)
            )
        )
        # ... or every variable is a whole path (`{{secret}}:addVersion`, the secret's full name).
        looser = re.compile("".join(_LOOSE if part.startswith("{{") else re.escape(part) for part in parts))
        for key in keys:
            if key not in self.docs:
                continue
            service_path, methods = self.docs[key]
            same_verb = [m for m in methods if m.verb == verb]

            def relative(text: str, service_path: str = service_path) -> str:
                return text[len(service_path) :] if service_path and text.startswith(service_path) else text

            rel_sample = relative(sample)

            def strip(pattern: re.Pattern[str], service_path: str = service_path) -> re.Pattern[str]:
                escaped = re.escape(service_path)
                if service_path and pattern.pattern.startswith(escaped):
                    return re.compile(pattern.pattern[len(escaped) :])
                return pattern

            rel_loose, rel_looser = strip(loose), strip(looser)
            # Only a call that names something besides its variables (`:addVersion`) may match all-paths.
            literal = any(
                segment and not re.fullmatch(r"v\d+\w*", segment)
                for part in parts
                if not part.startswith("{{")
                for segment in re.split(r"[/]", part)
            )
            for level in range(4 if literal else 3):
                pattern = rel_looser if level == 3 else rel_loose
                found = {
                    m.id
                    for m in same_verb
                    if m.patterns and _matches(m, min(level, 2) if level < 3 else 1, rel_sample, pattern)
                }
                if level == 3 and len(found) > 1:
                    # Several collections hold it (a global and a regional secret): the one with the shortest path.
                    lengths = {m.id: m.flat_sample.count("/") for m in same_verb if m.id in found}
                    shortest = min(lengths.values())
                    found = {m for m, n in lengths.items() if n == shortest}
                if level and hint:
                    # A looser match must name the resource's collection (`alertPolicies`) where any does: a
                    # `v3/{+name}` matches every collection of the API. Against the path form, a method of no
                    # collection (`iap.getIamPolicy` on `v1/{+resource}:getIamPolicy`) is still one.
                    named = {m for m in found if f".{hint}." in m}
                    found = named if named or level in (1, 3) else found
                if len(found) == 1:
                    return found.pop()
        return None

    def find_id(self, api: str, suffix: str) -> str | None:
        """A method of `api` (any version) whose id ends with `suffix`, if exactly one id does."""
        found = {m.id for key in self.api_versions(api) for m in self.docs[key][1] if m.id.endswith(suffix)}
        return found.pop() if len(found) == 1 else None

    def ids(self, api: str) -> set[str]:
        return {m.id for key in self.api_versions(api) for m in self.docs[key][1]}


def _matches(method: Method, level: int, sample: str, loose: re.Pattern[str]) -> bool:
    if level == 0:
        return bool(method.patterns[0].fullmatch(sample))
    if level == 1:
        return bool(method.flat_sample and loose.fullmatch(method.flat_sample))
    return len(method.patterns) > 1 and bool(method.patterns[1].fullmatch(sample))


def _methods(node: dict[str, Any]) -> Iterator[Method]:
    for method in (node.get("methods") or {}).values():
        patterns = []
        for key in ("flatPath", "path"):
            text = method.get(key)
            if not text:
                continue
            regex = re.sub(r"\\\{\\\+[^}]+\\\}", "[^:]+", re.escape(text))
            regex = re.sub(r"\\\{[^}]+\\\}", "[^/:]+", regex)
            patterns.append(re.compile(regex.replace(r"\*", "[^/:]+")))
        flat = method.get("flatPath") or method.get("path") or ""
        sample = re.sub(r"\{[^}]+\}", "X", flat) if "{+" not in flat else ""
        yield Method(method["id"], method["httpMethod"], tuple(patterns), sample)
    for child in (node.get("resources") or {}).values():
        yield from _methods(child)


def _untemplate(text: str) -> str:
    """A Go-templated YAML or Go file as the generated provider sees it (escapes undone, directives dropped)."""
    return _TMPL_DIRECTIVE.sub("", _TMPL_ESCAPE.sub(lambda m: m.group(1), text))


def underscore(name: str) -> str:
    """magic-modules' google.Underscore: CamelCase → snake_case, as Terraform names are built."""
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    text = re.sub(r"([a-z\d])([A-Z])", r"\1_\2", text)
    return text.replace("-", "_").replace(".", "_").lower()


# --- a call, and a type's calls per step ----------------------------------------------------------------------


@dataclass
class TypeCalls:
    token: str
    terraform: str
    source: str
    service: str
    name_format: str = ""
    steps: dict[str, list[str]] = field(default_factory=lambda: {s: [] for s in STEPS})
    # Calls made only when the program sets that property (pulumi camelCase name): per-field update methods.
    when_set: dict[str, list[str]] = field(default_factory=dict)
    target: str = ""  # IAM resources: the input naming the resource whose policy they change
    unresolved: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, step: str, method: str | None, what: str) -> None:
        if method is None:
            self.unresolved.append(f"{step}: {what}")
        elif method not in self.steps[step]:
            self.steps[step].append(method)

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {"terraform": self.terraform, "source": self.source, "service": self.service}
        if self.name_format:
            out["name"] = self.name_format
        out |= {step: methods for step, methods in self.steps.items()}
        if self.when_set:
            out["updateWhenSet"] = self.when_set
        if self.target:
            out["target"] = self.target
        if self.unresolved:
            out["unresolved"] = sorted(set(self.unresolved))
        if self.notes:
            out["notes"] = self.notes
        return out


@dataclass(frozen=True)
class Product:
    name: str
    terraform: str
    api: str
    version: str
    base_path: str  # path part of the base URL, e.g. `storage/v1/`, `v2/`
    service: str  # `run.googleapis.com`


def _product(text: str) -> Product | None:
    data = yaml.safe_load(text) or {}
    versions = {v.get("name"): v.get("base_url", "") for v in data.get("versions") or []}
    # pulumi-gcp bridges terraform-provider-google-beta, which calls every API at its beta base URL.
    base_url = versions.get("beta") or versions.get("ga")
    if not base_url:
        return None
    # Regional endpoints (`https://{{region}}-run.googleapis.com/`) are the same API.
    match = re.match(r"https://(?:\{\{\w+\}\}-)?([a-z0-9-]+)\.googleapis\.com/(.*)$", base_url)
    if not match:
        return None
    host, base_path = match.groups()
    version = next((p for p in base_path.split("/") if re.fullmatch(r"v\d+[a-z0-9]*", p)), "v1")
    legacy = data.get("legacy_name")
    return Product(
        data.get("name", ""),
        underscore(legacy) if legacy else underscore(data.get("name", "")),
        host,
        version,
        base_path,
        f"{host}.googleapis.com",
    )


def camel(name: str) -> str:
    """A Terraform attribute name as pulumi-gcp names the property: `secret_id` → `secretId`."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _update_urls(properties: Iterable[Any], top: str = "") -> Iterator[tuple[str, str, str]]:
    """(top-level property, verb, url) of every property with an update method of its own."""
    for prop in properties or []:
        if not isinstance(prop, dict):
            continue
        name = top or camel(underscore(str(prop.get("name", ""))))
        if prop.get("update_url"):
            yield name, prop.get("update_verb") or "PUT", prop["update_url"]
        for key in ("properties", "item_type"):
            nested = prop.get(key)
            if isinstance(nested, dict):
                yield from _update_urls(nested.get("properties") or [], name)
            elif isinstance(nested, list):
                yield from _update_urls(nested, name)


def _all_immutable(data: dict[str, Any]) -> bool:
    if data.get("immutable"):
        return True
    props = [p for p in (data.get("properties") or []) if isinstance(p, dict) and not p.get("output")]
    params = [p for p in (data.get("parameters") or []) if isinstance(p, dict)]
    return bool(props) and all(p.get("immutable") for p in props + params) and not data.get("update_url")


class Generator:
    def __init__(self, mm: GitTree, pulumi_gcp: GitTree, discovery: Discovery) -> None:
        self.mm = mm
        self.pulumi_gcp = pulumi_gcp
        self.discovery = discovery
        metadata = json.loads(pulumi_gcp.read("provider/cmd/pulumi-resource-gcp/bridge-metadata.json"))
        self.tokens: dict[str, str] = {
            name: entry["current"] for name, entry in metadata["auto-aliasing"]["resources"].items()
        }
        self.products: dict[str, Product] = {}  # by product directory
        self.base_paths: dict[str, Product] = {}  # `{{StorageBasePath}}` name -> product
        for path in mm.files("mmv1/products"):
            if path.endswith("/product.yaml"):
                product = _product(_untemplate(mm.read(path)))
                if product is not None:
                    self.products[path.split("/")[2]] = product
                    self.base_paths[f"{product.name}BasePath"] = product
        self.types: dict[str, TypeCalls] = {}

    def _method(self, product: Product, verb: str, url: str, hint: str = "") -> str | None:
        path = product.base_path + url.lstrip("/")
        return self.discovery.match(product.api, product.version, verb, path, hint)

    def _operation_get(self, api: str, near: str) -> str | None:
        """The operations.get method an async call polls: the one whose path shares most with the resource's."""
        best: tuple[int, int, str] | None = None
        for key in self.discovery.api_versions(api):
            for method in self.discovery.docs[key][1]:
                if not method.id.endswith("operations.get"):
                    continue
                shared = len(_common_prefix(method.id.split(".")[1:-2], _collections(near)))
                rank = (-shared, len(method.id), method.id)  # most shared collections, then the shortest
                if best is None or rank < best:
                    best = rank
        return best[2] if best else None

    # --- generated (mmv1) resources ---

    def generated(self) -> None:
        for path in sorted(self.mm.files("mmv1/products")):
            if not path.endswith(".yaml") or path.endswith("/product.yaml"):
                continue
            product = self.products.get(path.split("/")[2])
            if product is None:
                continue
            try:
                data = yaml.safe_load(_untemplate(self.mm.read(path))) or {}
            except yaml.YAMLError:
                continue  # not a resource definition (legacy Ruby-tagged files)
            if not isinstance(data, dict) or not data.get("name"):
                continue
            self._generated_resource(product, data, path)

    def _generated_resource(self, product: Product, data: dict[str, Any], path: str) -> None:
        base = data.get("base_url", "")
        self_link = data.get("self_link") or f"{base}/{{{{name}}}}"
        name_format = data.get("id_format") or self_link.split("?", 1)[0]
        terraform = data.get("legacy_name") or f"google_{product.terraform}_{underscore(data['name'])}"
        if not data.get("exclude") and not data.get("exclude_resource"):
            self._crud(product, data, path, terraform, base, self_link, name_format)
        iam = data.get("iam_policy")
        if isinstance(iam, dict) and not iam.get("exclude"):
            self._generated_iam(product, iam, path, terraform, self_link, name_format)

    def _crud(
        self, product: Product, data: dict[str, Any], path: str, tf: str, base: str, self_link: str, name: str
    ) -> None:
        token = self.tokens.get(tf)
        if token is None:
            return
        calls = TypeCalls(token, tf, path, product.service, name)
        hint = _hint(base)
        defaults = (("create", "POST"), ("read", "GET"), ("delete", "DELETE"), ("update", "PUT"))
        verbs = {k: (data.get(f"{k}_verb") or d) for k, d in defaults}
        create_url = data.get("create_url") or (base if verbs["create"] == "POST" else self_link)
        async_ = data.get("async") if isinstance(data.get("async"), dict) else {}
        op_actions = set(async_.get("actions") or ["create", "delete", "update"]) if async_ else set()
        poll = None
        if async_ and (async_.get("type") or "OpAsync") == "OpAsync":
            poll = self._operation_get(product.api, base)
        read = self._method(product, verbs["read"], self_link, hint)
        calls.add("read", read, f"{verbs['read']} {self_link}")
        calls.add("create", self._method(product, verbs["create"], create_url, hint), f"{verbs['create']} {create_url}")
        if "create" in op_actions and poll:
            calls.add("create", poll, "operation")
        calls.add("create", read, "read after create")
        if _all_immutable(data):
            calls.notes.append("every field is immutable: a change replaces it (delete, then create)")
        else:
            update_url = data.get("update_url") or self_link
            calls.add(
                "update", self._method(product, verbs["update"], update_url, hint), f"{verbs['update']} {update_url}"
            )
            for prop, verb, url in _update_urls(data.get("properties") or []):
                method = self._method(product, verb, url, hint)
                if method is None:
                    calls.unresolved.append(f"update ({prop}): {verb} {url}")
                elif method not in calls.when_set.setdefault(prop, []):
                    calls.when_set[prop].append(method)
            if "update" in op_actions and poll:
                calls.add("update", poll, "operation")
            calls.add("update", read, "read after update")
        if not data.get("exclude_delete"):
            delete_url = data.get("delete_url") or self_link
            calls.add(
                "delete", self._method(product, verbs["delete"], delete_url, hint), f"{verbs['delete']} {delete_url}"
            )
            if "delete" in op_actions and poll:
                calls.add("delete", poll, "operation")
        reviewed = REVIEWED_STEPS.get(tf)
        if reviewed is not None:
            why, steps = reviewed
            for step, methods in steps.items():
                calls.unresolved = [u for u in calls.unresolved if not u.startswith(step)]
                calls.steps[step] = [m for m in methods if self._known(m)]
                if step == "read":
                    calls.unresolved = [u for u in calls.unresolved if "read after" not in u]
                    calls.steps["create"] += [m for m in calls.steps["read"] if m not in calls.steps["create"]]
            calls.notes.append(f"read by hand: {why}")
        self.types[token] = calls

    def _generated_iam(
        self, product: Product, iam: dict[str, Any], path: str, tf: str, self_link: str, name: str
    ) -> None:
        base = (iam.get("base_url") or self_link).split("?", 1)[0]
        sep = iam.get("method_name_separator", "/")
        get_url = f"{base}{sep}{iam.get('fetch_iam_policy_method') or 'getIamPolicy'}"
        set_url = f"{base}{sep}{iam.get('set_iam_policy_method') or 'setIamPolicy'}"
        hint = _hint(base)
        get = self._method(product, iam.get("fetch_iam_policy_verb") or "GET", get_url, hint)
        put = self._method(product, iam.get("set_iam_policy_verb") or "POST", set_url, hint)
        for kind in IAM_KINDS:
            iam_tf = f"{tf}_iam_{kind}"
            token = self.tokens.get(iam_tf)
            if token is None:
                continue
            calls = TypeCalls(token, iam_tf, path, product.service, name)
            calls.target = camel(str(iam.get("parent_resource_attribute") or "id"))
            self._iam_steps(calls, get, put, f"{get_url}", f"{set_url}")
            self.types[token] = calls

    @staticmethod
    def _iam_steps(calls: TypeCalls, get: str | None, put: str | None, get_what: str, put_what: str) -> None:
        # The provider's IAM resources read-modify-write the policy: get it, change it, set it, read it back.
        calls.add("read", get, get_what)
        for step in ("create", "update", "delete"):
            calls.add(step, get, get_what)
            calls.add(step, put, put_what)
        calls.add("create", get, get_what)
        calls.notes.append("IAM member/binding/policy: getIamPolicy, then setIamPolicy with the change")

    # --- handwritten resources ---

    def handwritten(self) -> None:
        for path in sorted(self.mm.files("mmv1/third_party/terraform/services")):
            if not (path.endswith(".go") or path.endswith(".go.tmpl")) or "_test" in path:
                continue
            text = _untemplate(self.mm.read(path))
            if "registry.Schema{" not in text:
                continue
            self._handwritten_file(path, text)

    def _handwritten_file(self, path: str, text: str) -> None:
        functions = _go_functions(text)
        apis = self._file_apis(path, text)
        for match in re.finditer(r"registry\.Schema\{(.*?)\}\.Register\(\)", text, re.S):
            body = match.group(1)
            name = re.search(r'Name:\s*"([a-z0-9_]+)"', body)
            kind = re.search(r"Type:\s*registry\.(\w+)", body)
            schema = re.search(r"Schema:\s*(.+?),?\s*$", body, re.M)
            if not name or not kind or not schema:
                continue
            tf, kind_name, schema_expr = name.group(1), kind.group(1), schema.group(1)
            token = self.tokens.get(tf)
            if token is None or token in self.types:
                continue
            service = f"{apis[0]}.googleapis.com" if apis else ""
            calls = TypeCalls(token, tf, path, service)
            if kind_name == "SchemaTypeIAMResource":
                self._handwritten_iam(calls, schema_expr, text, functions, apis)
            elif kind_name == "SchemaTypeResource":
                constructor = re.match(r"(\w+)\(\)", schema_expr.strip())
                if constructor is None or constructor.group(1) not in functions:
                    continue
                crud: dict[str, str] = {}
                for step_name, fn in re.findall(
                    r"\b(Create|Read|Update|Delete):\s*(\w+)", functions[constructor.group(1)]
                ):
                    if fn in functions:  # the first one naming a function of the file (not `Timeouts: {Create: ...}`)
                        crud.setdefault(step_name, fn)
                for step in STEPS:
                    fn_name = step.capitalize()
                    if fn_name not in crud:
                        if step == "update":
                            calls.notes.append("no Update: a change replaces it (delete, then create)")
                        continue
                    for verb, method in self._go_calls(_reachable(crud[fn_name], functions), apis):
                        calls.add(step, method, verb)
                if "Read" in crud and "Create" in crud:
                    for method in calls.steps["read"]:
                        calls.add("create", method, "read after create")
            else:
                continue
            self.types[token] = calls

    def _handwritten_iam(
        self, calls: TypeCalls, schema_expr: str, text: str, functions: dict[str, str], apis: list[str]
    ) -> None:
        # The updater type whose Get/SetResourceIamPolicy the resource uses: named by its constructor
        # (`NewProjectIamUpdater`), or the one updater type the file defines.
        named = re.search(r"New(\w+IamUpdater)", schema_expr)
        wrapper = re.match(r"(\w+)\(\)", schema_expr.strip())
        if named is None and wrapper is not None:
            named = re.search(r"New(\w+IamUpdater)", functions.get(wrapper.group(1), ""))
        defined = sorted({key[1:].split(")", 1)[0] for key in functions if key.endswith(").GetResourceIamPolicy")})
        if named is not None and f"({named.group(1)}).GetResourceIamPolicy" in functions:
            type_name = named.group(1)
        elif len(defined) == 1:
            type_name = defined[0]
        else:
            calls.unresolved.append(f"IAM updater not found for {schema_expr.strip()}")
            return
        get = put = None
        for method_name, slot in (("GetResourceIamPolicy", "get"), ("SetResourceIamPolicy", "set")):
            body = functions.get(f"({type_name}).{method_name}", "")
            found = [m for _, m in self._go_calls(body, apis) if m]
            if slot == "get":
                get = next((m for m in found if m.endswith("getIamPolicy")), found[0] if found else None)
            else:
                put = next((m for m in found if m.endswith("setIamPolicy")), found[0] if found else None)
        reviewed = REVIEWED.get(calls.terraform)
        if reviewed is not None and (get is None or put is None):
            why, methods = reviewed
            get = next((m for m in methods["get"] if self._known(m)), None)
            put = next((m for m in methods["set"] if self._known(m)), None)
            calls.notes.append(f"read by hand: {why}")
        if "AuditConfig" in schema_expr:
            calls.notes.append("audit config: part of the IAM policy, read and written with it")
        self._iam_steps(calls, get, put, f"{type_name}.GetResourceIamPolicy", f"{type_name}.SetResourceIamPolicy")

    def _file_apis(self, path: str, text: str) -> list[str]:
        """APIs a handwritten file calls: its `_meta.yaml` service first, then the clients and base paths it names."""
        apis: list[str] = []
        stem = re.sub(r"\.go(\.tmpl)?$", "", path)
        for candidate in (f"{stem}_meta.yaml", f"{stem}_meta.yaml.tmpl"):
            try:
                meta = yaml.safe_load(_untemplate(self.mm.read(candidate))) or {}
            except (SourceError, yaml.YAMLError):
                continue
            service = str(meta.get("api_service_name", ""))
            if service.endswith(".googleapis.com"):
                apis.append(service.removesuffix(".googleapis.com"))
        for base in re.findall(r"\{\{(\w+BasePath)\}\}", text):
            if base in self.base_paths and self.base_paths[base].api not in apis:
                apis.append(self.base_paths[base].api)
        for client in re.findall(r"New(\w+)Client\(", text):
            api = _CLIENT_APIS.get(client.lower())
            if api and api not in apis:
                apis.append(api)
        for alias, api in _PACKAGE_APIS.items():
            if f"{alias}.NewClient(" in text and api not in apis:
                apis.append(api)
        # The service folder the file lives in (`services/kms/`): its product's API, for package-local clients.
        product = self.products.get(path.split("/")[4]) if path.count("/") > 4 else None
        if product is not None and product.api not in apis:
            apis.append(product.api)
        return apis

    def _go_calls(self, body: str, apis: list[str]) -> list[tuple[str, str | None]]:
        """(what, method id) for each API call in Go code: client chains, SendRequest URLs, operation waits."""
        out: list[tuple[str, str | None]] = []
        for chain in re.findall(r"((?:\.[A-Z][A-Za-z0-9]*){2,})\(", body):
            parts = chain.strip(".").split(".")
            if parts[-1] in _NOT_VERBS or any(p in _NOT_COLLECTIONS for p in parts):
                continue
            suffix = "." + ".".join(p[:1].lower() + p[1:] for p in parts)
            method = next((m for api in apis if (m := self._exact(api, suffix))), None)
            if method is not None:
                out.append((chain, method))
        # `objects := storage.NewObjectsService(client)` then `objects.Insert(...)`
        for var, collection in re.findall(r"(\w+)\s*:?=\s*\w+\.New(\w+)Service\(", body):
            for verb in re.findall(rf"\b{var}\.([A-Z]\w*)\(", body):
                suffix = f".{collection[:1].lower()}{collection[1:]}.{verb[:1].lower()}{verb[1:]}"
                method = next((m for api in apis if (m := self._exact(api, suffix))), None)
                if method is not None:
                    out.append((f"{var}.{verb}", method))
        urls = dict(re.findall(r'(\w+),\s*err\s*:?=\s*tpgresource\.ReplaceVars\(\w+,\s*\w+,\s*"([^"]+)"\)', body))
        for block in re.findall(r"SendRequest\(transport_tpg\.SendRequestOptions\{(.*?)\}\)", body, re.S):
            verb = re.search(r'Method:\s*"(\w+)"', block)
            raw = re.search(r"RawURL:\s*(\w+)", block)
            if not verb or not raw or raw.group(1) not in urls:
                continue
            url = urls[raw.group(1)]
            base = re.match(r"\{\{(\w+BasePath)\}\}(.*)", url)
            product = self.base_paths.get(base.group(1)) if base else None
            if product is None or base is None:
                out.append((f"{verb.group(1)} {url}", None))
                continue
            out.append((f"{verb.group(1)} {url}", self._method(product, verb.group(1), base.group(2))))
        for prefix in re.findall(r"\b(\w+?)OperationWait\w*\(", body):
            api = _CLIENT_APIS.get(prefix.split(".")[-1].lower())
            if api == "compute":
                # Compute polls the operation where the resource lives: a zone's, a region's, or global.
                scope = "zone" if "zones/" in body else ("region" if "regions/" in body else "global")
                out.append((f"{prefix}OperationWait", self._exact("compute", f".{scope}Operations.get")))
            elif api:
                out.append((f"{prefix}OperationWait", self._operation_get(api, "projects/x")))
        return out

    def _known(self, method: str) -> bool:
        return method in self.discovery.ids(method.split(".", 1)[0])

    def _exact(self, api: str, suffix: str) -> str | None:
        wanted = f"{api}{suffix}"
        return wanted if wanted in self.discovery.ids(api) else None

    def table(self) -> str:
        header = {
            "format": TABLE_FORMAT,
            "generator": "python -m tools.provider_methods",
            "sources": {
                "magic-modules": f"github.com/GoogleCloudPlatform/magic-modules commit {self.mm.commit} "
                f"({self.mm.date()}), Apache-2.0",
                "pulumi-gcp": f"github.com/pulumi/pulumi-gcp commit {self.pulumi_gcp.commit} "
                f"({self.pulumi_gcp.date()}) "
                "provider/cmd/pulumi-resource-gcp/bridge-metadata.json, Apache-2.0",
                "discovery": f"google-api-python-client {self.discovery.version} discovery_cache, Apache-2.0",
            },
        }
        lines = ["{"]
        for key, value in header.items():
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)},")
        lines.append('  "types": {')
        body = [
            f"    {json.dumps(token)}: {json.dumps(self.types[token].record(), sort_keys=True)}"
            for token in sorted(self.types)
        ]
        lines.append(",\n".join(body))
        lines.append("  }")
        lines.append("}")
        return "\n".join(lines) + "\n"


# Calls read by hand where a handwritten resource builds its URLs in a helper the generator does not follow;
# each entry names the file and helper, and every method id is still checked against the discovery documents.
REVIEWED: dict[str, tuple[str, dict[str, list[str]]]] = {
    "google_storage_bucket_iam_member": (
        "iam_storage_bucket.go: qualifyBucketUrl('iam') → GET/PUT {{StorageBasePath}}b/<bucket>/iam",
        {"get": ["storage.buckets.getIamPolicy"], "set": ["storage.buckets.setIamPolicy"]},
    ),
}
# Steps of generated resources whose calls live in custom code templates the generator does not read.
REVIEWED_STEPS: dict[str, tuple[str, dict[str, list[str]]]] = {
    "google_secret_manager_secret_version": (
        "SecretVersion.yaml: base_url {{name}} (the version's full name); custom_code pre_read/flatten read the "
        "payload (:access), custom_update enables or disables the version",
        {
            "read": ["secretmanager.projects.secrets.versions.get", "secretmanager.projects.secrets.versions.access"],
            "update": [
                "secretmanager.projects.secrets.versions.enable",
                "secretmanager.projects.secrets.versions.disable",
            ],
        },
    ),
}
REVIEWED["google_storage_bucket_iam_binding"] = REVIEWED["google_storage_bucket_iam_member"]
REVIEWED["google_storage_bucket_iam_policy"] = REVIEWED["google_storage_bucket_iam_member"]

# Go client constructors (`config.NewStorageClient`, `iambeta.NewClient`) → API names.
_CLIENT_APIS = {
    "storage": "storage",
    "resourcemanager": "cloudresourcemanager",
    "resourcemanagerv3": "cloudresourcemanager",
    "iam": "iam",
    "serviceusage": "serviceusage",
    "compute": "compute",
    "kms": "cloudkms",
    "pubsub": "pubsub",
    "cloudfunctions": "cloudfunctions",
    "container": "container",
    "sqladmin": "sqladmin",
    "dns": "dns",
    "bigquery": "bigquery",
    "cloudbilling": "cloudbilling",
    "logging": "logging",
    "appengine": "appengine",
    "dataproc": "dataproc",
    "dataflow": "dataflow",
    "composer": "composer",
    "runadminv2": "run",
    "run": "run",
    "spanner": "spanner",
    "bigtableadmin": "bigtableadmin",
    "iamcredentials": "iamcredentials",
    "cloudidentity": "cloudidentity",
    "healthcare": "healthcare",
    "serviceNetworking".lower(): "servicenetworking",
    "tags": "cloudresourcemanager",
}
_PACKAGE_APIS = {"iambeta": "iam", "rmClient": "cloudresourcemanager", "storageClient": "storage"}
_NOT_VERBS = {"Do", "Header", "Context", "Fields", "Pages", "Wrapf", "Errorf", "Sprintf"}
_NOT_COLLECTIONS = {"Config", "Timeout", "Schema"}


def _collections(path: str) -> list[str]:
    """`projects/{{project}}/locations/{{l}}/services` → ['projects', 'locations', 'services']."""
    segments = [s for s in path.split("?", 1)[0].split("/") if s]
    return segments[0::2]  # collection, id, collection, id, ...


def _hint(url: str) -> str:
    """The collection a resource URL names last (`projects/{{p}}/alertPolicies` → `alertPolicies`)."""
    segments = [s for s in url.split("?", 1)[0].split("/") if s and not s.startswith("{{")]
    return segments[-1] if segments else ""


def _common_prefix(a: list[str], b: list[str]) -> list[str]:
    out = []
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        out.append(x)
    return out


def _go_functions(text: str) -> dict[str, str]:
    """Top-level functions and methods of a Go file by name (`f`, or `(Type).m` for a method), with bodies."""
    found: dict[str, str] = {}
    for match in re.finditer(r"^func\s+(?:\(\w+\s+\*?(\w+)\)\s+)?(\w+)\(", text, re.M):
        receiver, name = match.group(1), match.group(2)
        opening = _BODY_START.search(text, match.end())  # not the `{}` of an `interface{}` parameter
        if opening is None:
            continue
        start = opening.start()
        depth, index = 0, start
        while index < len(text):
            char = text[index]
            if char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    break
            elif char == "`":
                index = text.find("`", index + 1)
                if index < 0:
                    break
            elif char == '"':
                index += 1
                while index < len(text) and text[index] != '"':
                    index += 2 if text[index] == "\\" else 1
            index += 1
        found[f"({receiver}).{name}" if receiver else name] = text[start : index + 1]
    return found


def _reachable(name: str, functions: dict[str, str]) -> str:
    """The body of `name` and of every function of the same file it calls, transitively."""
    seen: set[str] = set()
    todo = [name]
    bodies: list[str] = []
    while todo:
        current = todo.pop()
        if current in seen or current not in functions:
            continue
        seen.add(current)
        body = functions[current]
        bodies.append(body)
        todo.extend(
            callee for callee in re.findall(r"\b([a-zA-Z_]\w*)\(", body) if callee in functions and callee != current
        )
    return "\n".join(bodies)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.provider_methods",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--magic-modules", type=Path, required=True, help="clone or git dir of magic-modules")
    parser.add_argument("--pulumi-gcp", type=Path, required=True, help="clone or git dir of pulumi-gcp")
    parser.add_argument("--discovery", type=Path, required=True, help="the google-api-python-client wheel")
    parser.add_argument("--check", action="store_true", help="compare with the committed table instead of writing")
    args = parser.parse_args(argv)
    try:
        generator = Generator(GitTree(args.magic_modules), GitTree(args.pulumi_gcp), Discovery(args.discovery))
        generator.generated()
        generator.handwritten()
        text = generator.table()
    except SourceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.check:
        if TABLE_PATH.read_text(encoding="utf-8") != text:
            print(f"{TABLE_PATH.name} is out of date: rerun python -m tools.provider_methods", file=sys.stderr)
            return 1
        print(f"{TABLE_PATH.name} matches its sources")
        return 0
    TABLE_PATH.parent.mkdir(parents=True, exist_ok=True)
    TABLE_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {TABLE_PATH.relative_to(REPO_ROOT)}: {len(generator.types)} resource types")
    return 0


if __name__ == "__main__":
    sys.exit(main())
