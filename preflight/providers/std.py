"""pulumi-std's pure functions, computed for real: encoding, hashing, string, path and network helpers.

Arguments and results as pulumi-std declares them (`std:index:<name>`, result under `result`). File
functions read relative to the program directory, where the provider would run. Functions not listed
here (time, randomness, decryption) fall back to their declared result type.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import ipaddress
import json
import os
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

_Fn = Callable[[dict[str, Any], Path], Any]


def _text(args: dict[str, Any], key: str = "input") -> str:
    value = args.get(key)
    return "" if value is None else str(value)


def _read(args: dict[str, Any], directory: Path) -> bytes:
    path = Path(os.path.expanduser(_text(args)))
    return (path if path.is_absolute() else directory / path).read_bytes()


def _hash(name: str) -> _Fn:
    return lambda args, _d: hashlib.new(name, _text(args).encode()).hexdigest()


def _file_hash(name: str, encode: bool = False) -> _Fn:
    def fn(args: dict[str, Any], directory: Path) -> str:
        digest = hashlib.new(name, _read(args, directory))
        return base64.b64encode(digest.digest()).decode() if encode else digest.hexdigest()

    return fn


def _cidrsubnet(args: dict[str, Any], _d: Path) -> str:
    network = ipaddress.ip_network(_text(args), strict=False)
    subnets = network.subnets(prefixlen_diff=int(args.get("newbits") or 0))
    return str(next(s for i, s in enumerate(subnets) if i == int(args.get("netnum") or 0)))


def _cidrhost(args: dict[str, Any], _d: Path) -> str:
    network = ipaddress.ip_network(_text(args), strict=False)
    return str(network.network_address + int(args.get("host") or 0))


def _substr(args: dict[str, Any], _d: Path) -> str:
    text, offset, length = _text(args), int(args.get("offset") or 0), int(args.get("length") or -1)
    return text[offset:] if length < 0 else text[offset : offset + length]


_FUNCTIONS: dict[str, _Fn] = {
    "base64encode": lambda a, _d: base64.b64encode(_text(a).encode()).decode(),
    "base64decode": lambda a, _d: base64.b64decode(_text(a)).decode(errors="replace"),
    "base64gzip": lambda a, _d: base64.b64encode(gzip.compress(_text(a).encode(), mtime=0)).decode(),
    "base64sha256": lambda a, _d: base64.b64encode(hashlib.sha256(_text(a).encode()).digest()).decode(),
    "base64sha512": lambda a, _d: base64.b64encode(hashlib.sha512(_text(a).encode()).digest()).decode(),
    "md5": _hash("md5"),
    "sha1": _hash("sha1"),
    "sha256": _hash("sha256"),
    "sha512": _hash("sha512"),
    "file": lambda a, d: _read(a, d).decode(errors="replace"),
    "filebase64": lambda a, d: base64.b64encode(_read(a, d)).decode(),
    "fileexists": lambda a, d: (d / os.path.expanduser(_text(a))).exists(),
    "filemd5": _file_hash("md5"),
    "filesha1": _file_hash("sha1"),
    "filesha256": _file_hash("sha256"),
    "filesha512": _file_hash("sha512"),
    "filebase64sha256": _file_hash("sha256", encode=True),
    "filebase64sha512": _file_hash("sha512", encode=True),
    "abspath": lambda a, d: str((d / _text(a)).resolve()),
    "basename": lambda a, _d: os.path.basename(_text(a)),
    "dirname": lambda a, _d: os.path.dirname(_text(a)) or ".",
    "pathexpand": lambda a, _d: os.path.expanduser(_text(a)),
    "join": lambda a, _d: _text(a, "separator").join(str(v) for v in a.get("input") or []),
    "split": lambda a, _d: _text(a, "text").split(_text(a, "separator")),
    "replace": lambda a, _d: _text(a, "text").replace(_text(a, "search"), _text(a, "replace")),
    "lower": lambda a, _d: _text(a).lower(),
    "upper": lambda a, _d: _text(a).upper(),
    "title": lambda a, _d: _text(a).title(),
    "trimspace": lambda a, _d: _text(a).strip(),
    "trim": lambda a, _d: _text(a).strip(_text(a, "cutset")),
    "trimprefix": lambda a, _d: _text(a).removeprefix(_text(a, "prefix")),
    "trimsuffix": lambda a, _d: _text(a).removesuffix(_text(a, "suffix")),
    "chomp": lambda a, _d: _text(a).rstrip("\r\n"),
    "strrev": lambda a, _d: _text(a)[::-1],
    "substr": _substr,
    "indent": lambda a, _d: _text(a).replace("\n", "\n" + " " * int(a.get("spaces") or 0)),
    "startswith": lambda a, _d: _text(a).startswith(_text(a, "prefix")),
    "endswith": lambda a, _d: _text(a).endswith(_text(a, "suffix")),
    "urlencode": lambda a, _d: urllib.parse.quote(_text(a), safe=""),
    "jsonencode": lambda a, _d: json.dumps(a.get("input"), separators=(",", ":")),
    "jsondecode": lambda a, _d: json.loads(_text(a)),
    "length": lambda a, _d: len(a.get("input") or ""),
    "cidrsubnet": _cidrsubnet,
    "cidrhost": _cidrhost,
    "tostring": lambda a, _d: _text(a),
}


def answer(token: str, args: dict[str, Any], program_dir: Path) -> dict[str, Any] | None:
    """`{"result": ...}` for a pure std function; None for the rest. OSError/ValueError propagate."""
    if not token.startswith("std:index:"):
        return None
    fn = _FUNCTIONS.get(token.rsplit(":", 1)[-1])
    return {"result": fn(args, program_dir)} if fn is not None else None
