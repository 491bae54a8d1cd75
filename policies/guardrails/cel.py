"""CEL as far as the pack reads it: string literals and comments found exactly as CEL's lexer finds them, and
an expression split into its boolean structure (`||` of `&&` of terms). Everything else stays opaque text.

Why a lexer: IAM and Workload Identity Federation evaluate conditions with CEL, where `//` starts a comment
that runs to the end of the line. A reader that does not know that sees `// "` as the start of a string and
misses a `|| true` on the next line. The pack treats a condition with a comment (outside string literals) as
unreadable, and so does every rule: no expiry, not confined to resources, not pinned, no role limit.

Literals (cel-spec syntax): `"..."`, `'...'` (no newline inside), `\"\"\"...\"\"\"`, `'''...'''`, each optionally
raw (`r`/`R`: backslashes are not escapes) and optionally bytes (`b`/`B` before the `r`). Anything the lexer
cannot close (an unterminated literal, a newline in a one-line literal, unbalanced brackets) is unreadable.

Every step is linear in the length of the expression: one pass to lex, one to match brackets, and a split
that jumps over bracketed groups. Results are memoized: a stack analysis asks about the same condition from
several rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final

__all__ = ["MAX_DEPTH", "Node", "Parsed", "conjuncts", "disjuncts", "parse"]

# Deeper nesting than this is not worth reading: such a condition is unreadable (and so proves nothing).
MAX_DEPTH: Final = 64
_IDENT: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_OPENERS: Final = {"(": ")", "[": "]", "{": "}"}
_BLANK: Final = " "


@dataclass(frozen=True)
class Lexed:
    """`masked` has the text of `expression` with the contents of string literals blanked (quotes kept), so
    operators and brackets in it are real ones; same length, same positions."""

    expression: str
    masked: str
    comment: bool


def _raw_prefix(text: str, quote_at: int) -> bool:
    """Is the literal opening at `quote_at` raw (`r"`, `R'`, `br"`, ...), the prefix not part of a longer name?"""
    i = quote_at - 1
    if i < 0 or text[i] not in "rR":
        return False
    i -= 1
    if i >= 0 and text[i] in "bB":
        i -= 1
    return i < 0 or text[i] not in _IDENT


def lex(expression: str) -> Lexed | None:
    """Blank string literal contents and note comments; None if a literal is not closed the way CEL closes it."""
    out: list[str] = []
    n = len(expression)
    i = 0
    comment = False
    while i < n:
        char = expression[i]
        if char == "/" and expression.startswith("//", i):
            comment = True
            end = expression.find("\n", i)
            end = n if end < 0 else end
            out.append(_BLANK * (end - i))
            i = end
            continue
        if char not in "\"'":
            out.append(char)
            i += 1
            continue
        raw = _raw_prefix(expression, i)
        triple = expression.startswith(char * 3, i)
        delimiter = char * 3 if triple else char
        j = i + len(delimiter)
        closed = -1
        while j < n:
            c = expression[j]
            if c == "\\" and not raw:
                j += 2  # an escape: the next character is part of the literal whatever it is
                continue
            if not triple and c in "\n\r":
                return None  # CEL: a one-line literal cannot hold a newline
            if expression.startswith(delimiter, j):
                closed = j
                break
            j += 1
        if closed < 0:
            return None
        out.append(delimiter)
        out.append(_BLANK * (closed - i - len(delimiter)))
        out.append(delimiter)
        i = closed + len(delimiter)
    return Lexed(expression, "".join(out), comment)


# --- boolean structure ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """`or` / `and` with children, `term` for anything else (a comparison, a call, `!x`, a literal), and
    `ternary` for `a ? b : c` at this level (opaque: the pack reads no conditional expressions)."""

    kind: str
    text: str = ""  # a term's text (outer brackets and whitespace removed)
    children: tuple[Node, ...] = ()


@dataclass(frozen=True)
class Parsed:
    """A condition as the pack reads it. `tree` is None when the expression is unreadable: a comment, an
    unclosed literal, unbalanced brackets, or nesting deeper than MAX_DEPTH."""

    expression: str
    tree: Node | None
    has_or: bool = False  # `||` anywhere outside literals
    has_ternary: bool = False  # `?` anywhere outside literals

    @property
    def readable(self) -> bool:
        return self.tree is not None


class _Unreadable(Exception):
    pass


def _brackets(masked: str) -> dict[int, int]:
    """Opening position -> closing position for (), [], {}; raises if unbalanced."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for index, char in enumerate(masked):
        if char in _OPENERS:
            stack.append(index)
        elif char in ")]}":
            if not stack or _OPENERS[masked[stack[-1]]] != char:
                raise _Unreadable
            pairs[stack.pop()] = index
    if stack:
        raise _Unreadable
    return pairs


class _Splitter:
    def __init__(self, lexed: Lexed) -> None:
        self.text = lexed.expression
        self.masked = lexed.masked
        self.pairs = _brackets(lexed.masked)

    def _trim(self, lo: int, hi: int) -> tuple[int, int]:
        """Whitespace and brackets that enclose the whole span removed."""
        masked = self.masked
        while True:
            while lo < hi and masked[lo].isspace():
                lo += 1
            while hi > lo and masked[hi - 1].isspace():
                hi -= 1
            if lo < hi and masked[lo] == "(" and self.pairs.get(lo) == hi - 1:
                lo, hi = lo + 1, hi - 1
                continue
            return lo, hi

    def _split(self, lo: int, hi: int, operator: str) -> list[tuple[int, int]]:
        """The spans between top-level occurrences of `operator` (`||`, `&&`) in [lo, hi)."""
        masked, pairs = self.masked, self.pairs
        spans: list[tuple[int, int]] = []
        start = index = lo
        while index < hi:
            char = masked[index]
            if char in _OPENERS:
                index = pairs[index] + 1
                continue
            if char == operator[0] and masked.startswith(operator, index):
                spans.append((start, index))
                index += 2
                start = index
                continue
            index += 1
        spans.append((start, hi))
        return spans

    def _top_level(self, lo: int, hi: int, char: str) -> bool:
        masked, pairs = self.masked, self.pairs
        index = lo
        while index < hi:
            here = masked[index]
            if here in _OPENERS:
                index = pairs[index] + 1
                continue
            if here == char:
                return True
            index += 1
        return False

    def node(self, lo: int, hi: int, depth: int = 0) -> Node:
        if depth > MAX_DEPTH:
            raise _Unreadable
        lo, hi = self._trim(lo, hi)
        if lo >= hi:
            raise _Unreadable  # an empty operand (`a && `, `()`)
        # `?:` binds loosest in CEL: `a || b ? c : d` is `(a || b) ? c : d`.
        if self._top_level(lo, hi, "?"):
            return Node("ternary", self.text[lo:hi])
        for operator, kind in (("||", "or"), ("&&", "and")):
            spans = self._split(lo, hi, operator)
            if len(spans) > 1:
                children: list[Node] = []
                for a, b in spans:
                    child = self.node(a, b, depth + 1)
                    # (a && b) && c is one conjunction; (a || b) || c one disjunction
                    children.extend(child.children if child.kind == kind else (child,))
                return Node(kind, self.text[lo:hi], tuple(children))
        return Node("term", self.text[lo:hi])


@lru_cache(maxsize=4096)
def parse(expression: str) -> Parsed:
    """The expression's structure, once per distinct expression (memoized)."""
    lexed = lex(expression)
    if lexed is None or lexed.comment:
        return Parsed(expression, None)
    try:
        tree = _Splitter(lexed).node(0, len(expression))
    except (_Unreadable, RecursionError):
        return Parsed(expression, None)
    return Parsed(expression, tree, "||" in lexed.masked, "?" in lexed.masked)


def conjuncts(expression: str, strict: bool = True) -> list[str] | None:
    """The top-level `&&` terms, or None: unreadable, or a `||`/`?` anywhere outside literals (strict) or at
    the top level (not strict: `A && (B || C)` still proves A)."""
    parsed = parse(expression)
    tree = parsed.tree
    if tree is None or (strict and (parsed.has_or or parsed.has_ternary)):
        return None
    if tree.kind == "and":
        return [child.text for child in tree.children]
    if tree.kind == "term":
        return [tree.text]
    return None  # `or`/`ternary` at the top level: nothing provable about every token or request


def disjuncts(expression: str) -> list[list[str]] | None:
    """`A || B || ...`, each alternative as its list of `&&` terms (a nested `||` inside a term stays one
    opaque term); None if unreadable or a conditional (`?`) appears anywhere."""
    parsed = parse(expression)
    tree = parsed.tree
    if tree is None or parsed.has_ternary:
        return None
    alternatives = tree.children if tree.kind == "or" else (tree,)
    out: list[list[str]] = []
    for alternative in alternatives:
        if alternative.kind == "and":
            out.append([child.text for child in alternative.children])
        else:
            out.append([alternative.text])
    return out
