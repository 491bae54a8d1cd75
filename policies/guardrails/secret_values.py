"""What a value is, as far as credentials go: key material (service-account key files, private keys, user
refresh tokens, also base64-encoded), names that say a value is a credential (PASSWORD, SECRET, TOKEN, KEY, …)
and what such a value may legitimately be instead (a reference, a number, a flag, a URL without userinfo, a
resource name, a path, empty), and what a script or free text holds (secret shapes, key material and
credential-named assignments, in it or in base64 inside it). Never returns a value: kinds and names only.

Every pattern is linear on long input (no nested quantifiers over the same characters) and reads a bounded
prefix of what it is given.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Final
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "MAX_TEXT",
    "PREFLIGHT_SECRET_MARKER",
    "SECRET_SHAPES",
    "credential_name",
    "decoded_texts",
    "key_material",
    "legitimate_value",
    "name_words",
    "secret_shape",
    "text_findings",
]

MAX_TEXT: Final = 200_000  # what a scan reads of one value

# --- key material -----------------------------------------------------------------------------------------------

_SA_KEY_FILE: Final = re.compile(r'"type"\s*+:\s*+"service_account"')
_PRIVATE_KEY_FIELD: Final = re.compile(r'"private_key"\s*+:\s*+"')
_AUTHORIZED_USER: Final = re.compile(r'"type"\s*+:\s*+"authorized_user"')
_REFRESH_TOKEN_FIELD: Final = re.compile(r'"refresh_token"\s*+:\s*+"[^"\s]')
_PEM_PRIVATE_KEY: Final = re.compile(r"-----BEGIN (?:[A-Z0-9]+ ){0,4}PRIVATE KEY-----")
_PUTTY_KEY: Final = re.compile(r"PuTTY-User-Key-File-\d")


def _plain_key_material(text: str) -> str | None:
    if _PRIVATE_KEY_FIELD.search(text) and (_SA_KEY_FILE.search(text) or _PEM_PRIVATE_KEY.search(text)):
        return "a service account key file"
    if _AUTHORIZED_USER.search(text) and _REFRESH_TOKEN_FIELD.search(text):
        return "a user's application default credentials (a long-lived refresh token)"
    if _PEM_PRIVATE_KEY.search(text) or _PUTTY_KEY.search(text):
        return "a private key"
    return None


def key_material(text: str) -> str | None:
    """What long-lived key a text holds (a service account key file, a private key, a user's refresh token),
    also when it is base64-encoded, or None."""
    text = text[:MAX_TEXT]
    found = _plain_key_material(text)
    if found:
        return found
    for decoded in decoded_texts(text):
        found = _plain_key_material(decoded)
        if found:
            return f"{found} (base64-encoded)"
    return None


# Base64 runs long enough to hold a credential, standing alone (not inside a longer word).
_BASE64_RUN: Final = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/]{40,}+={0,2}(?![A-Za-z0-9+/=_-])")
_BASE64_URL_RUN: Final = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9_-]{40,}+={0,2}(?![A-Za-z0-9+/=_-])")
_MAX_CANDIDATES: Final = 32
_MAX_DECODED: Final = 1 << 20


def decoded_texts(text: str, limit: int = _MAX_CANDIDATES) -> Iterator[str]:
    """The texts that base64 runs in `text` decode to (UTF-8 text only: binary such as an SSH public key's
    blob is no text and is skipped). Bounded in count and size."""
    seen = 0
    budget = _MAX_DECODED
    for pattern, altchars in ((_BASE64_RUN, None), (_BASE64_URL_RUN, b"-_")):
        for match in pattern.finditer(text[:MAX_TEXT]):
            if seen >= limit or budget <= 0:
                return
            run = match.group(0)
            if altchars is not None and not any(c in run for c in "-_"):
                continue  # plain base64: done by the first pattern
            seen += 1
            padded = run.rstrip("=")
            padded += "=" * (-len(padded) % 4)
            try:
                raw = base64.b64decode(padded, altchars=altchars, validate=True)
                decoded = raw.decode("utf-8")
            except (binascii.Error, ValueError):
                continue
            if any(not (c.isprintable() or c in "\r\n\t") for c in decoded):
                continue  # binary (an SSH public key's blob, a DER key store): no text to read
            budget -= len(decoded)
            yield decoded


# --- names that say "credential" ---------------------------------------------------------------------------------

_WORDS: Final = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# Whole words that name a credential.
_CREDENTIAL_WORDS: Final = frozenset(
    {
        "PASSWORD", "PASSWORDS", "PASSWD", "PWD", "PASS", "PASSPHRASE", "SECRET", "SECRETS", "TOKEN", "TOKENS",
        "KEY", "KEYS", "APIKEY", "APIKEYS", "CREDENTIAL", "CREDENTIALS", "CREDS", "PAT", "PSK", "AUTHORIZATION",
    }
)  # fmt: skip
# Run-together names (`DBPASSWORD`, `openaiapikey`): these spellings inside one word still name a credential.
_CREDENTIAL_PARTS: Final = (
    "PASSWORD", "PASSWD", "PASSPHRASE", "APIKEY", "SECRETKEY", "ACCESSKEY", "PRIVATEKEY", "AUTHTOKEN",
    "ACCESSTOKEN", "REFRESHTOKEN", "CLIENTSECRET", "BEARERTOKEN",
)  # fmt: skip
# After the credential word, these make the name *about* the credential (its name, where it is, how long, …).
_ABOUT_WORDS: Final = frozenset(
    {
        "NAME", "NAMES", "ID", "IDS", "PATH", "PATHS", "FILE", "FILES", "DIR", "DIRECTORY", "URL", "URLS", "URI",
        "URIS", "ENDPOINT", "HOST", "PORT", "HEADER", "PARAM", "PARAMETER", "FIELD", "COOKIE", "AUDIENCE", "AUD",
        "ISSUER", "ISS", "SUBJECT", "SCOPE", "SCOPES", "TTL", "EXPIRY", "EXPIRES", "EXPIRATION", "LIFETIME",
        "DURATION", "TIMEOUT", "AGE", "LENGTH", "LEN", "SIZE", "BITS", "COUNT", "MIN", "MAX", "MINIMUM", "MAXIMUM",
        "LIMIT", "DAYS", "HOURS", "MINUTES", "SECONDS", "VERSION", "VERSIONS", "PROJECT", "LOCATION", "REGION",
        "ZONE", "RING", "ALGORITHM", "ALG", "TYPE", "KIND", "FORMAT", "PREFIX", "SUFFIX", "POLICY", "ROLE", "MODE",
        "ENABLED", "DISABLED", "ENABLE", "DISABLE", "REQUIRED", "REQUIRE", "RESOURCE", "REF", "REFERENCE", "ARN",
        "ACCOUNT", "EMAIL", "USER", "USERNAME", "PRINCIPAL", "OWNER", "ROTATION", "ROTATE", "INTERVAL", "PERIOD",
        "STRATEGY", "PROVIDER", "BACKEND", "STORE", "CLASS", "STRENGTH", "COMPLEXITY", "PATTERN", "REGEX", "HINT",
        "LABEL", "DESCRIPTION", "STDIN", "PROMPT", "ENV", "VAR", "VARIABLE", "SOURCE",
    }
)  # fmt: skip
# `…_KEY` that names no credential: the word before KEY says what kind of key (cache, sort, routing, …, public).
_PLAIN_KEY_QUALIFIERS: Final = frozenset(
    {
        "CACHE", "SORT", "PARTITION", "PRIMARY", "FOREIGN", "ROUTING", "SHARD", "LOOKUP", "IDEMPOTENCY", "DEDUP",
        "DEDUPE", "DEDUPLICATION", "OBJECT", "ORDERING", "FLAG", "MAP", "INDEX", "UNIQUE", "COMPOSITE", "ENTITY",
        "GROUP", "KMS", "CMEK", "CRYPTO", "TRANSLATION", "I18N", "LOCALE", "HOT", "REGISTRY",
    }
)  # fmt: skip
_PUBLIC_WORDS: Final = frozenset({"PUBLIC", "PUBLISHABLE", "PUB", "SITE", "VERIFY", "VERIFICATION"})


def name_words(name: str) -> list[str]:
    """`dbPassword` -> DB PASSWORD; `X-Api-Key` -> X API KEY; `APIKey` -> API KEY."""
    return [word.upper() for word in _WORDS.findall(name[:256])]


def _is_credential_word(word: str) -> bool:
    return word in _CREDENTIAL_WORDS or any(part in word for part in _CREDENTIAL_PARTS)


def credential_name(name: str) -> bool:
    """Does the name say its value is a credential (PASSWORD, SECRET, TOKEN, KEY, …) rather than something about
    one (`PASSWORD_MIN_LENGTH`, `TOKEN_AUDIENCE`, `SECRET_NAME`, `KMS_KEY_NAME`) or a key that is none
    (`CACHE_KEY`, `PUBLIC_KEY`, `ORDERING_KEY`)?"""
    words = name_words(name)
    last = max((i for i, word in enumerate(words) if _is_credential_word(word)), default=-1)
    if last < 0:
        return False
    if any(word in _ABOUT_WORDS for word in words[last + 1 :]):
        return False
    if any(word in _PUBLIC_WORDS for word in words[:last]):
        return False
    return not (words[last] in ("KEY", "KEYS") and last > 0 and words[last - 1] in _PLAIN_KEY_QUALIFIERS)


# --- what a credential-named value may legitimately be -------------------------------------------------------------

_NUMBER: Final = re.compile(r"[+-]?(?:\d{1,32}(?:\.\d{0,32})?|\.\d{1,32})")
_QUANTITY: Final = re.compile(r"\d{1,32}(?:\.\d{1,32})?\s?(?:ms|s|m|h|d|w|sec|secs|min|mins|hours|days|[kmgt]i?b?)",
                              re.IGNORECASE)  # fmt: skip
_WORD_VALUES: Final = frozenset(
    {"true", "false", "yes", "no", "on", "off", "enabled", "disabled", "enable", "disable", "none", "null", "nil",
     "required", "optional", "auto", "default"}
)  # fmt: skip
_RESOURCE_NAME: Final = re.compile(
    r"(?:projects|organizations|folders|locations|billingAccounts)/\S*|//[a-z0-9.-]+/\S*"
)
_REFERENCE: Final = re.compile(
    r"\$\{[^{}]{1,512}\}|\$\{\{[^{}]{1,512}\}\}|\$\([^()]{1,512}\)|\$\$?[A-Za-z_][A-Za-z0-9_]{0,127}"
    r"|`[^`]{1,512}`|\{\{[^{}]{1,512}\}\}|%[A-Za-z_][A-Za-z0-9_]{0,127}%|<[^<>\s][^<>]{0,127}>|%\([A-Za-z_]{1,64}\)s|%s"
)
_PATH: Final = re.compile(r"(?:/|\./|\.\./|~/)[^\s]{0,4096}")
_EMAIL: Final = re.compile(r"[^@\s:/]{1,128}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")
_PUBLIC_KEY: Final = re.compile(
    r"(?:ssh-(?:rsa|ed25519|dss)|ecdsa-sha2-[a-z0-9]+|sk-[a-z0-9@.-]+) [A-Za-z0-9+/]{16,}+={0,2}(?: [^\n]*)?"
    r"|-----BEGIN (?:PUBLIC KEY|CERTIFICATE|RSA PUBLIC KEY)-----[\s\S]*"
)
_URL: Final = re.compile(r"[a-z][a-z0-9+.-]{0,31}://\S*", re.IGNORECASE)


def _url_holds_credential(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return True
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        password = userinfo.split(":", 1)[1] if ":" in userinfo else ""
        if password and not _REFERENCE.fullmatch(password):
            return True
    return any(credential_name(key) and value and not legitimate_value(value) for key, value in
               parse_qsl(parts.query, keep_blank_values=True))  # fmt: skip


def legitimate_value(value: str) -> bool:
    """Is this what a variable named like a credential may hold without holding one? A reference (`${X}`,
    `$(cmd)`, `$X`, `{{x}}`, `<placeholder>`), a number, duration or size, a flag word, a URL without a password
    or credential parameter, a resource name, a path, an email, a public key or certificate, or nothing."""
    text = value.strip()
    if not text:
        return True
    if len(text) > 8192:
        return False
    if text.lower() in _WORD_VALUES or _NUMBER.fullmatch(text) or _QUANTITY.fullmatch(text):
        return True
    if _REFERENCE.fullmatch(text) or _RESOURCE_NAME.fullmatch(text) or _EMAIL.fullmatch(text):
        return True
    if _URL.fullmatch(text):
        return not _url_holds_credential(text)
    return bool(_PATH.fullmatch(text) or _PUBLIC_KEY.fullmatch(text))


# --- free text: scripts, args, documents -------------------------------------------------------------------------

# `NAME=value` (shell, Dockerfile ENV, .env), optionally after export/set/ENV.
_ASSIGNMENT: Final = re.compile(
    r"(?<![\w$.-])(?:export[ \t]++|set[ \t]++|ENV[ \t]++|declare[ \t]++(?:-[a-zA-Z]+[ \t]++)?)?"
    r"([A-Za-z_][A-Za-z0-9_]{0,127})=(\"(?:[^\"\\\n]|\\.){0,4096}\"|'[^'\n]{0,4096}'|\$\([^()\n]{0,4096}\)"
    r"|`[^`\n]{0,4096}`|[^\s;&|\"'`)]{0,4096})"
)
# `--name=value` and `--name value` (the value not itself a flag).
_FLAG: Final = re.compile(
    r"(?<![\w-])--([A-Za-z][A-Za-z0-9_.-]{0,63})(?:=|[ \t]++(?!-))"
    r"(\"(?:[^\"\\\n]|\\.){0,4096}\"|'[^'\n]{0,4096}'|[^\s;&|]{1,4096})"
)
# `"name": "value"` in JSON, and `name: value` lines in YAML.
_JSON_PAIR: Final = re.compile(r"\"([A-Za-z_][\w.-]{0,127})\"\s*+:\s*+\"((?:[^\"\\\n]|\\.){0,4096})\"")
_YAML_PAIR: Final = re.compile(r"^[ \t]*+(?:-[ \t]++)?([A-Za-z_][\w.-]{0,127})[ \t]*+:[ \t]++([^\n]{1,4096})$", re.M)
# `- name: X` then `value: Y` (a container declaration's env, Kubernetes style).
_NAME_VALUE_PAIR: Final = re.compile(
    r"name:[ \t]*+[\"']?([A-Za-z_][\w.-]{0,127})[\"']?[ \t]*+\n[ \t]*+value:[ \t]*+([^\n]{1,4096})"
)


def _unquoted(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _literal_credentials(text: str, yaml: bool) -> list[str]:
    """Names of credential-named assignments, flags and fields in `text` set to a literal."""
    names: list[str] = []
    patterns = [_ASSIGNMENT, _FLAG, _JSON_PAIR, _NAME_VALUE_PAIR] + ([_YAML_PAIR] if yaml else [])
    for pattern in patterns:
        for match in pattern.finditer(text):
            name, value = match.group(1), _unquoted(match.group(2))
            if pattern is _YAML_PAIR and value[:1] in ("|", ">", "&", "*", "{", "["):
                continue  # a block, an anchor or a flow collection: its lines are scanned on their own
            if pattern is _FLAG and name_words(name) in (["SECRET"], ["SECRETS"]):
                continue  # `--secret=<name>` names a secret (gcloud, docker build --secret id=…)
            if credential_name(name) and not legitimate_value(value) and name not in names:
                names.append(name)
    return names


def text_findings(text: str, shapes: list[tuple[str, re.Pattern[str]]], yaml: bool = False) -> list[str]:
    """What a script, an argument or a document holds, in words: each secret shape and kind of key material found
    (also inside base64 runs), and the credential-named variables, flags or fields it sets to a literal."""
    text = text[:MAX_TEXT]
    found: list[str] = []

    def scan(body: str, suffix: str) -> None:
        material = _plain_key_material(body)
        if material:
            found.append(material + suffix)
        for label, pattern in shapes:
            if pattern.search(body) and (label + suffix) not in found:
                if material and label in ("a PEM private key", "a service account key file"):
                    continue  # the same key, already named
                found.append(label + suffix)
        names = _literal_credentials(body, yaml or body.lstrip().startswith("#cloud-config"))
        if material:  # a key file's own fields (`"private_key": …`) are the key already named
            names = [n for n in names if name_words(n)[:2] != ["PRIVATE", "KEY"]]
        if names:
            listed = ", ".join(names[:5]) + (" …" if len(names) > 5 else "")
            found.append(f"a literal for {listed} (a credential by its name){suffix}")

    scan(text, "")
    for decoded in decoded_texts(text):
        scan(decoded, " (base64-encoded)")
    return found


# --- secret shapes: a value judged by what it looks like -----------------------------------------------------------

# Each shape is linear on long values: a token that runs on (a class repeated) starts only where its run starts
# (a lookbehind for the class), and its quantifiers are possessive or bounded, so no run is scanned twice.
SECRET_SHAPES: Final = (
    ("a Google API key", re.compile(r"AIza[0-9A-Za-z_\-]{35}")),
    ("a PEM private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ ){0,4}PRIVATE KEY-----")),
    ("a service account key file", re.compile(r'"private_key"\s*+:\s*+"-----BEGIN')),
    ("a Google OAuth client secret", re.compile(r"GOCSPX-[0-9A-Za-z_\-]{20,}+")),
    ("a Google OAuth access token", re.compile(r"\bya29\.[0-9A-Za-z_\-]{20,}+")),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\b(?:gh[pousr]_[0-9A-Za-z]{36,}+|github_pat_[0-9A-Za-z_]{40,}+)")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[0-9A-Za-z\-]{10,}+")),
    ("a Stripe secret key", re.compile(r"\b[sr]k_live_[0-9A-Za-z]{16,}+")),
    (
        "a JSON Web Token",
        re.compile(r"(?<![0-9A-Za-z_\-])eyJ[0-9A-Za-z_\-]{8,}+\.eyJ[0-9A-Za-z_\-]{8,}+\.[0-9A-Za-z_\-]{8,}+"),
    ),
    (
        "a URL with an embedded password",
        # A password that is a reference (`${DB_PASSWORD}`, `$PW`, `%s`, `{pw}`, `<password>`) is no password.
        re.compile(r"(?<![a-z0-9+.\-])[a-z][a-z0-9+.\-]{0,31}+://[^/\s:@]++:(?![$%{<])[^/\s@]{3,}+@", re.IGNORECASE),
    ),
)
_TOKEN_RE: Final = re.compile(r"^[A-Za-z0-9+/=_\-.~]+$")
_NOT_SECRET_RE: Final = re.compile(
    r"^(?:[a-z][a-z0-9+.\-]*://\S*"  # URLs (an audience, a base URL)
    r"|[^@\s]+@[^@\s]+\.[a-z]{2,}"  # emails
    r"|(?:projects|organizations|folders|locations)/\S*"  # resource names
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # UUID identifiers
    r"|[0-9a-f]{40})$",  # a git commit SHA (a bare 32/64-hex value is a secret's shape: openssl rand -hex)
    re.IGNORECASE,
)
# Digests named by their algorithm: image digests (sha256:<hex>), SRI hashes (sha384-<base64>). The lengths
# are the digest's own, so a secret cannot pass just by wearing a "sha256-" prefix.
_DIGEST_RE: Final = re.compile(
    r"^(?:sha1:[0-9a-f]{40}|sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128}"
    r"|sha256[-:][A-Za-z0-9+/_\-]{43}=?|sha384[-:][A-Za-z0-9+/_\-]{64}|sha512[-:][A-Za-z0-9+/_\-]{86}(?:==)?)$"
)
_HEX_SECRET_RE: Final = re.compile(r"^(?:[0-9a-f]{32,}|[0-9A-F]{32,})$")
_MAX_SCAN: Final = 100_000


def _entropy(text: str) -> float:
    counts = Counter(text)
    total = len(text)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


# What the offline preflight substitutes for a `secure:` stack config value it cannot decrypt: seeing it in
# a plain env var means a Pulumi secret was written into plaintext configuration.
PREFLIGHT_SECRET_MARKER: Final = "[preflight: secret value not decrypted]"  # noqa: S105 (a marker)


def secret_shape(value: str) -> str | None:
    """What kind of secret the value looks like, or None: judged by the value, never the variable name."""
    text = value[:_MAX_SCAN]
    if PREFLIGHT_SECRET_MARKER in text:
        return "a secret from the stack's config (secure:)"
    for label, pattern in SECRET_SHAPES:
        if pattern.search(text):
            return label
    token = text.strip()
    if len(token) < 24 or len(token) > 4096 or not _TOKEN_RE.match(token) or _NOT_SECRET_RE.match(token):
        return None
    if _DIGEST_RE.match(token):
        return None
    if _HEX_SECRET_RE.match(token):
        # Random hex has letters and digits throughout; "0000…" or "abab…" placeholders do not.
        letters = sum(c.isalpha() for c in token)
        if 0.15 <= letters / len(token) <= 0.85 and _entropy(token) >= 3.0:
            return "a hex-encoded random secret"
        return None
    classes = sum((any(c.islower() for c in token), any(c.isupper() for c in token), any(c.isdigit() for c in token)))
    digits = sum(c.isdigit() for c in token)
    if classes == 3 and digits >= 2 and _entropy(token) >= 4.0:
        return "a high-entropy token"
    return None
