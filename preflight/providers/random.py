"""pulumi-random resources, computed as the provider computes them (from a seed instead of entropy).

The value honours the inputs that shape it (length, character classes, minimums, prefixes, ranges) so a
program that slices, parses or validates it behaves as after `pulumi up`. Passwords are secret outputs.
"""

from __future__ import annotations

import base64
import hashlib
import random
import string
import uuid
from collections.abc import Callable
from typing import Any

from secure_invoke.preflight.outputs.formats import Subject
from secure_invoke.preflight.outputs.wire import secret
from secure_invoke.preflight.providers.tokens import Registry

_Fn = Callable[[dict[str, Any], Subject], tuple[str, dict[str, Any]]]
_BY_TYPE: Registry[_Fn] = Registry()
_SPECIAL = "!@#$%&*()-_=+[]{}<>:?"
_ADJECTIVES = ("brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "kind", "lively", "proud")
_ANIMALS = ("otter", "heron", "lynx", "gecko", "panda", "koala", "falcon", "badger", "walrus", "ibis")


def _rng(subject: Subject, inputs: dict[str, Any]) -> random.Random:
    seed = hashlib.sha256(f"{subject.token}:{subject.name}:{sorted(map(str, inputs.items()))}".encode()).digest()
    return random.Random(seed)  # noqa: S311 (deterministic by design: a stand-in, not a secret)


def _flag(inputs: dict[str, Any], *keys: str) -> bool:
    return all(inputs.get(key, True) is not False for key in keys)


def _string(inputs: dict[str, Any], subject: Subject) -> str:
    rng = _rng(subject, inputs)
    length = int(inputs.get("length") or 16)
    classes: list[tuple[str, int]] = []
    if _flag(inputs, "lower"):
        classes.append((string.ascii_lowercase, int(inputs.get("minLower") or 0)))
    if _flag(inputs, "upper"):
        classes.append((string.ascii_uppercase, int(inputs.get("minUpper") or 0)))
    if _flag(inputs, "numeric", "number"):
        classes.append((string.digits, int(inputs.get("minNumeric") or 0)))
    if _flag(inputs, "special"):
        classes.append((str(inputs.get("overrideSpecial") or _SPECIAL), int(inputs.get("minSpecial") or 0)))
    alphabet = "".join(chars for chars, _ in classes) or string.ascii_lowercase
    chosen = [rng.choice(chars) for chars, minimum in classes for _ in range(minimum)]
    chosen += [rng.choice(alphabet) for _ in range(max(length - len(chosen), 0))]
    rng.shuffle(chosen)
    return "".join(chosen[:length])


@_BY_TYPE.of("random:index/randomString:RandomString")
def _random_string(inputs: dict[str, Any], subject: Subject) -> tuple[str, dict[str, Any]]:
    value = _string(inputs, subject)
    return value, {"result": value}


@_BY_TYPE.of("random:index/randomPassword:RandomPassword")
def _random_password(inputs: dict[str, Any], subject: Subject) -> tuple[str, dict[str, Any]]:
    value = _string(inputs, subject)
    bcrypt = "$2a$10$" + base64.b64encode(hashlib.sha256(value.encode()).digest()).decode()[:53]
    return "none", {"result": secret(value), "bcryptHash": secret(bcrypt)}


@_BY_TYPE.of("random:index/randomId:RandomId")
def _random_id(inputs: dict[str, Any], subject: Subject) -> tuple[str, dict[str, Any]]:
    raw = _rng(subject, inputs).randbytes(int(inputs.get("byteLength") or 8))
    prefix = str(inputs.get("prefix") or "")
    b64_url = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    outputs = {
        "hex": prefix + raw.hex(),
        "b64Url": prefix + b64_url,
        "b64Std": prefix + base64.b64encode(raw).decode(),
        "dec": prefix + str(int.from_bytes(raw, "big")),
    }
    return b64_url, outputs


@_BY_TYPE.of("random:index/randomInteger:RandomInteger")
def _random_integer(inputs: dict[str, Any], subject: Subject) -> tuple[str, dict[str, Any]]:
    low, high = int(inputs.get("min") or 0), int(inputs.get("max") or 0)
    value = _rng(subject, inputs).randint(min(low, high), max(low, high))
    return str(value), {"result": value}


@_BY_TYPE.of("random:index/randomPet:RandomPet")
def _random_pet(inputs: dict[str, Any], subject: Subject) -> tuple[str, dict[str, Any]]:
    rng = _rng(subject, inputs)
    words = int(inputs.get("length") or 2)
    parts = [rng.choice(_ADJECTIVES) for _ in range(max(words - 1, 0))] + [rng.choice(_ANIMALS)]
    if inputs.get("prefix"):
        parts.insert(0, str(inputs["prefix"]))
    value = str(inputs.get("separator") or "-").join(parts)
    return value, {}


@_BY_TYPE.of("random:index/randomUuid:RandomUuid")
def _random_uuid(inputs: dict[str, Any], subject: Subject) -> tuple[str, dict[str, Any]]:
    value = str(uuid.UUID(bytes=_rng(subject, inputs).randbytes(16), version=4))
    return value, {"result": value}


@_BY_TYPE.of("random:index/randomBytes:RandomBytes")
def _random_bytes(inputs: dict[str, Any], subject: Subject) -> tuple[str, dict[str, Any]]:
    raw = _rng(subject, inputs).randbytes(int(inputs.get("length") or 32))
    return "none", {"base64": secret(base64.b64encode(raw).decode()), "hex": secret(raw.hex())}


@_BY_TYPE.of("random:index/randomShuffle:RandomShuffle")
def _random_shuffle(inputs: dict[str, Any], subject: Subject) -> tuple[str, dict[str, Any]]:
    items = list(inputs.get("inputs") or [])
    _rng(subject, inputs).shuffle(items)
    count = inputs.get("resultCount")
    return "-", {"results": items[: int(count)] if count else items}


def outputs(type_: str, inputs: dict[str, Any], subject: Subject) -> tuple[str, dict[str, Any]] | None:
    """(id, computed outputs) of a pulumi-random resource; None for other types."""
    fn = _BY_TYPE.get(type_)
    return fn(inputs, subject) if fn is not None else None
