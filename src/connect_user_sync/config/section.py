"""Typed, path-aware access to one mapping of the configuration document.

Every reader names the key's full path in its errors (``groups[1].routing_profile``), with
the fix and, for an unknown key, the closest allowed one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from connect_user_sync.domain.bounded import capped, printable, shown
from connect_user_sync.domain.names import closest
from connect_user_sync.errors import ConfigError

T = TypeVar("T")

# Formats more than one section checks.
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")
ROLE_ARN_EXAMPLE = "arn:aws:iam::ACCOUNT:role/NAME"

# Keys whose value is a secret, or where one is easily pasted by mistake (an ARN key): a
# message about them never quotes the value, whatever its type.
SECRET_KEYS = frozenset({"client_secret", "api_token", "secret_key", "private_key"})
NOT_SHOWN = "(the value is not shown: this key may hold a secret)"


def is_secret_key(key: str) -> bool:
    return key in SECRET_KEYS or (key.endswith("_arn") and ("secret" in key or "key" in key))


class Section:
    """Typed access to one mapping of the document, tracking which keys were used."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(
                path or "(top level)",
                f"expected a mapping of keys, got {type(data).__name__}",
                "write this section as 'key: value' lines",
            )
        self.data: Mapping[str, Any] = data
        self.path = path

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def check_keys(self, allowed: tuple[str, ...]) -> None:
        for key in self.data:
            if key not in allowed:
                match = closest(str(key), allowed)
                hint = (
                    f"did you mean '{match}'?" if match else f"allowed here: {', '.join(allowed)}"
                )
                raise ConfigError(
                    self.at(printable(capped(str(key), 80))), "unknown key", f"remove it; {hint}"
                )

    def get(
        self, key: str, kind: type[T], default: T | None = None, *, required: bool = False
    ) -> T | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise ConfigError(self.at(key), "missing", f"add '{key}:' to this section")
            return default
        # bool is an int in Python; a limit written as `true` is still a mistake.
        wrong_bool = kind in (int, float) and isinstance(value, bool)
        if kind is float and isinstance(value, int) and not wrong_bool:
            value = float(value)
        if wrong_bool or not isinstance(value, kind):
            raise ConfigError(
                self.at(key),
                f"expected {kind.__name__}, got {type(value).__name__} "
                + (NOT_SHOWN if is_secret_key(key) else shown(value)),
                f"give '{key}' a {kind.__name__} value",
            )
        return value

    def text(self, key: str, *, required: bool = False, default: str | None = None) -> str | None:
        value = self.get(key, str, default, required=required)
        if value is not None and not value.strip():
            raise ConfigError(self.at(key), "empty string", f"give '{key}' a value or remove it")
        return value

    def required_text(self, key: str) -> str:
        value = self.text(key, required=True)
        assert value is not None
        return value

    def matching(
        self, key: str, pattern: re.Pattern[str], example: str, *, required: bool = False
    ) -> str | None:
        value = self.text(key, required=required)
        if value is not None and not pattern.match(value):
            quoted = f"a value of {len(value)} characters {NOT_SHOWN}"
            raise ConfigError(
                self.at(key),
                f"{quoted if is_secret_key(key) else shown(value)} is not valid",
                f"use the form {example}",
            )
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.text(key, default=default, required=default is None)
        if value not in choices:
            raise ConfigError(
                self.at(key),
                f"{shown(value)} is not one of {', '.join(choices)}",
                f"set '{key}' to one of {', '.join(choices)}",
            )
        return value

    def section(self, key: str, *, required: bool = False) -> Section | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise ConfigError(self.at(key), "missing", f"add a '{key}:' section")
            return None
        return Section(value, self.at(key))

    def string_list(self, key: str) -> list[str]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ConfigError(
                self.at(key),
                f"expected a list of names, got {shown(value)}",
                f"write '{key}: [Name1, Name2]'",
            )
        return value
