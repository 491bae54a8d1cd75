"""A table from type (or invoke) token to the function that computes what the provider would answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

F = TypeVar("F", bound=Callable[..., object])


class Registry(Generic[F]):
    def __init__(self) -> None:
        self._by_token: dict[str, F] = {}

    def of(self, *tokens: str) -> Callable[[F], F]:
        """Decorator: `fn` answers for each of `tokens`."""

        def register(fn: F) -> F:
            for token in tokens:
                self._by_token[token] = fn
            return fn

        return register

    def get(self, token: str) -> F | None:
        return self._by_token.get(token)
