"""Plausible values in the formats providers return, chosen by a property's name and documentation.

Deterministic: every "random" part is a hash of the project, the resource and the property, so two runs
of one program agree. Google's formats where the property is a Google one (self links, service-account
emails, `project:region:instance` connection names, run.app URLs, base64 PEM certificates); generic,
well-formed values otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

DEFAULT_PROJECT = "preflight-project"
DEFAULT_REGION = "us-central1"

# Cloud Run's region codes in `*.a.run.app` hostnames.
_RUN_REGION_CODES = {
    "us-central1": "uc",
    "us-east1": "ue",
    "us-east4": "uk",
    "us-west1": "uw",
    "europe-west1": "ew",
    "europe-west2": "nw",
    "europe-west3": "ey",
    "europe-west4": "ez",
    "europe-north1": "lz",
    "asia-northeast1": "an",
    "asia-east1": "de",
    "australia-southeast1": "ts",
}
_DEFAULT_VALUE = re.compile(r"(?:Default value is|[Dd]efaults to)\s*[`\"']([^`\"']+)[`\"']")
_POSSIBLE_VALUES = re.compile(r"(?:Possible|Acceptable|Allowed|Supported|Valid) values are:?\s*[`\"']([^`\"']+)[`\"']")


def digest(*parts: object, length: int = 64) -> str:
    return hashlib.sha256("\x00".join(map(str, parts)).encode()).hexdigest()[:length]


def project_number(project: str) -> str:
    return str(100000000000 + int(digest("number", project), 16) % 900000000000)


def run_region_code(region: str) -> str:
    return _RUN_REGION_CODES.get(region, "a")


def default_compute_account(project: str) -> str:
    """The Compute Engine default service account: what Google runs a workload as when none is named."""
    return f"{project_number(project)}-compute@developer.gserviceaccount.com"


@lru_cache(maxsize=4096)
def documented_default(doc: str) -> str | None:
    """The default or first possible value a property's documentation states."""
    match = _DEFAULT_VALUE.search(doc) or _POSSIBLE_VALUES.search(doc)
    return match.group(1) if match else None


@dataclass(frozen=True)
class Subject:
    """The resource a value belongs to."""

    token: str  # e.g. gcp:sql/databaseInstance:DatabaseInstance
    name: str  # its physical name (autoname or `name` input), else its logical name
    project: str
    region: str
    zone: str = ""

    @property
    def package(self) -> str:
        return self.token.split(":", 1)[0]

    @property
    def module(self) -> str:
        parts = self.token.split(":")
        return parts[1].split("/", 1)[0] if len(parts) == 3 else ""

    @property
    def kind(self) -> str:
        return self.token.rsplit(":", 1)[-1]

    def hex(self, *parts: object, length: int = 8) -> str:
        return digest(self.token, self.project, self.name, *parts, length=length)


def pem(label: str, seed: str, lines: int = 6) -> str:
    raw = b"".join(hashlib.sha256(f"{seed}:{i}".encode()).digest() for i in range(lines * 2))
    body = base64.b64encode(raw[: lines * 48]).decode()
    wrapped = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{wrapped}\n-----END {label}-----\n"


def ip_address(subject: Subject, prop: str) -> str:
    octets = bytes.fromhex(subject.hex("ip", prop, length=6))
    if any(word in prop for word in ("public", "external", "nat", "endpoint", "global")):
        return f"34.{octets[0]}.{octets[1]}.{octets[2] or 1}"
    return f"10.{octets[0]}.{octets[1]}.{octets[2] or 1}"


def _plural(kind: str) -> str:
    word = kind[:1].lower() + kind[1:]
    if word.endswith(("s", "x")):
        return word + "es"
    if word.endswith("y") and not word.endswith(("ay", "ey", "oy")):
        return word[:-1] + "ies"
    return word + "s"


def self_link(subject: Subject) -> str:
    if subject.module == "storage":
        return f"https://www.googleapis.com/storage/v1/b/{subject.name}"
    scope = f"zones/{subject.zone}" if subject.zone else f"regions/{subject.region}"
    api = {"sql": "sql/v1beta4", "container": "container/v1"}.get(subject.module, "compute/v1")
    return f"https://www.googleapis.com/{api}/projects/{subject.project}/{scope}/{_plural(subject.kind)}/{subject.name}"


def url(subject: Subject, prop: str) -> str:
    if subject.module in ("cloudrun", "cloudrunv2", "cloudfunctionsv2"):
        code = run_region_code(subject.region)
        return f"https://{subject.name}-{digest('run', subject.project, length=10)}-{code}.a.run.app"
    if subject.module == "cloudfunctions":
        return f"https://{subject.region}-{subject.project}.cloudfunctions.net/{subject.name}"
    if subject.module == "storage" and prop == "url":
        return f"gs://{subject.name}"
    if subject.package == "gcp":
        return f"https://{subject.module}.googleapis.com/v1/projects/{subject.project}/{_plural(subject.kind)}/{subject.name}"
    return f"https://{subject.name}-{subject.hex(prop, length=6)}.example.com"


def _key_material(subject: Subject, prop: str, doc: str) -> str:
    label = "CERTIFICATE"
    if "request" in prop:
        label = "CERTIFICATE REQUEST"
    elif "private" in prop or prop.endswith("client_key"):
        label = "RSA PRIVATE KEY" if "pkcs8" not in prop else "PRIVATE KEY"
    elif "public" in prop:
        label = "PUBLIC KEY"
    if prop.endswith("openssh"):
        if "private" in prop:
            return pem("OPENSSH PRIVATE KEY", subject.hex(prop))
        return "ssh-rsa " + base64.b64encode(bytes.fromhex(subject.hex(prop, length=64))).decode() + "\n"
    text = pem(label, subject.hex(prop))
    # Google returns certificates and keys base64-encoded; the docs say so.
    return base64.b64encode(text.encode()).decode() if "base64" in doc.lower() else text


def _fingerprint(subject: Subject, prop: str) -> str:
    if prop.endswith("md5"):
        return ":".join(subject.hex(prop, length=32)[i : i + 2] for i in range(0, 32, 2))
    if prop.endswith("sha256"):
        return "SHA256:" + base64.b64encode(bytes.fromhex(subject.hex(prop, length=64))).decode().rstrip("=")
    return subject.hex(prop, length=16)


_NAMED: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(^|_)self_link(_with_id)?$"), "self_link"),
    (re.compile(r"connection_name$"), "connection"),
    (re.compile(r"(^|_)(uri|url|urls)$|_(uri|url)$|^website_url$"), "url"),
    (re.compile(r"(^|_)(ip_address|ip|nat_ip|network_ip|address|endpoint|host)$|_ip_address$"), "ip"),
    (re.compile(r"(^|_)(cidr|ip_cidr_range)$"), "cidr"),
    (re.compile(r"fingerprint"), "fingerprint"),
    (
        re.compile(r"certificate|(^|_)cert(_pem)?$|_pem(_pkcs8)?$|(^|_)private_key$|client_key$|openssh$|public_key$"),
        "key",
    ),
    (re.compile(r"(^|_)email(_address)?$|service_account_email"), "email"),
    (re.compile(r"(^|_)member$"), "member"),
    (re.compile(r"(^|_)(create|update|delete|start|end|expire|creation|last_modified)_?time(stamp)?$|_at$"), "time"),
    (re.compile(r"(^|_)(etag|checksum|md5hash|md5_hash|crc32c|content_hash|hash|digest)$"), "hash"),
    (re.compile(r"(^|_)(uid|unique_id|uuid)$"), "uid"),
    (re.compile(r"(^|_)(project_number|number)$"), "number"),
    (re.compile(r"(^|_)project(_id)?$"), "project"),
    (re.compile(r"(^|_)region$"), "region"),
    (re.compile(r"(^|_)zone$"), "zone"),
    (re.compile(r"(^|_)location$"), "location"),
    (re.compile(r"_id$|^id$"), "id"),
    (re.compile(r"(^|_)(name|display_name)$"), "name"),
    (re.compile(r"(^|_)(domain|hostname|fqdn|dns_name)$"), "domain"),
    (re.compile(r"version$"), "version"),
    (re.compile(r"(^|_)(state|status)$"), "state"),
]


def string_value(subject: Subject, prop: str, doc: str = "") -> str:
    """A string of the format a property called `prop` (snake_case) has."""
    stated = documented_default(doc)
    if stated is not None and not _looks_like_format(prop):
        return stated
    kind = _kind(prop)
    if kind == "self_link":
        return self_link(subject)
    if kind == "connection":
        return f"{subject.project}:{subject.region}:{subject.name}"
    if kind == "url":
        return url(subject, prop)
    if kind == "ip":
        return ip_address(subject, prop)
    if kind == "cidr":
        return f"10.{int(subject.hex('cidr', length=2), 16)}.0.0/20"
    if kind == "fingerprint":
        return _fingerprint(subject, prop)
    if kind == "key":
        return _key_material(subject, prop, doc)
    if kind == "email":
        return f"{subject.name[:30].rstrip('-')}@{subject.project}.iam.gserviceaccount.com"
    if kind == "member":
        return f"serviceAccount:{subject.name[:30].rstrip('-')}@{subject.project}.iam.gserviceaccount.com"
    return _simple(kind, subject, prop)


def _simple(kind: str, subject: Subject, prop: str) -> str:
    if kind == "time":
        return "2024-01-01T00:00:00.000000Z"
    if kind == "hash":
        return subject.hex(prop, length=16)
    if kind == "uid":
        h = subject.hex(prop, length=32)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    if kind == "number":
        return project_number(subject.project)
    if kind == "project":
        return subject.project
    if kind in ("region", "location"):
        return subject.region
    if kind == "zone":
        return subject.zone or f"{subject.region}-a"
    if kind == "id":
        return str(10**18 + int(subject.hex(prop, length=15), 16) % 9 * 10**17)
    if kind == "name":
        return subject.name
    if kind == "domain":
        return f"{subject.name}.{subject.project}.example.internal"
    if kind == "version":
        return "1"
    if kind == "state":
        return "ACTIVE"
    return f"{subject.name}-{prop.replace('_', '-')}"


@lru_cache(maxsize=4096)
def _kind(prop: str) -> str:
    return next((k for pattern, k in _NAMED if pattern.search(prop)), "")


@lru_cache(maxsize=4096)
def _looks_like_format(prop: str) -> bool:
    # A documented "default" of a URL or key is prose, not a value to copy.
    return any(pattern.search(prop) for pattern, kind in _NAMED[:8])
