"""Reading the configuration document's text into plain data, safely, whatever the bytes.

The text comes from a file, an SSM parameter or a test; nothing about it is trusted:

- **Bytes that are not UTF-8** are a configuration error naming the byte offset.
- **YAML aliases are limited.** An anchor may be reused (``phone: *desk``), but the
  document, with every alias expanded, may hold at most ``MAX_NODES`` nodes and no alias
  may refer to itself. A "billion laughs" document of one kilobyte is refused while it is
  still a graph of a few dozen nodes, before anything is built from it or printed.
- **Nesting is limited** to ``MAX_DEPTH`` levels (JSON and YAML), so no parser recursion
  can exhaust the stack.
- Anything else the parsers raise becomes a ``ConfigError`` with the position, never a
  traceback.
"""

from __future__ import annotations

import json
from typing import Any

from connect_user_sync.domain.bounded import shown
from connect_user_sync.errors import ConfigError

MAX_NODES = 100_000  # a configuration with thousands of groups stays far below this
MAX_DEPTH = 64
MAX_BYTES = 5_000_000


def decode(data: bytes, origin: str) -> str:
    """The document's text; bytes that are not UTF-8 are a ``ConfigError``."""
    if len(data) > MAX_BYTES:
        raise ConfigError(
            origin,
            f"the document is {len(data)} bytes; at most {MAX_BYTES} are read",
            "give the configuration itself, not a data file",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            origin,
            f"not valid UTF-8 (byte {exc.start} is {data[exc.start : exc.start + 1]!r})",
            "save the file as UTF-8 (most editors offer it under 'Save as' or 'Encoding')",
        ) from exc
    return text


def load_document(text: str, origin: str) -> object:
    """Parse JSON or YAML text into plain data (JSON is tried first; YAML is a superset)."""
    if len(text) > MAX_BYTES:
        raise ConfigError(
            origin,
            f"the document has {len(text)} characters; at most {MAX_BYTES} are read",
            "give the configuration itself, not a data file",
        )
    if "\x00" in text:
        raise ConfigError(
            origin,
            "the document contains NUL characters",
            "save the configuration as a UTF-8 text file",
        )
    try:
        document: object = json.loads(text)
    except RecursionError:
        raise _too_deep(origin) from None
    except ValueError:
        document = _load_yaml(text, origin)
    if _depth_exceeds(document, MAX_DEPTH):
        raise _too_deep(origin)
    return document


def _too_deep(origin: str) -> ConfigError:
    return ConfigError(
        origin,
        f"the document is nested more than {MAX_DEPTH} levels deep",
        "flatten it: the configuration needs a handful of levels",
    )


def _load_yaml(text: str, origin: str) -> object:
    import yaml

    loader: Any = None
    try:
        loader = yaml.SafeLoader(text)  # checks the characters already (ReaderError)
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, origin)
        return loader.construct_document(node)
    except ConfigError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ConfigError(
            f"{origin} ({where})",
            f"not valid YAML or JSON: {shown(exc.problem or exc.context, 160)}",
            "fix the syntax at that position",
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(
            origin, f"not valid YAML or JSON: {shown(str(exc), 160)}", "fix the syntax"
        ) from None
    except RecursionError:
        raise _too_deep(origin) from None
    except (ValueError, TypeError, OverflowError) as exc:
        # e.g. a timestamp like 2024-13-45 that the YAML resolver takes for a date
        raise ConfigError(
            origin,
            f"a value cannot be read: {type(exc).__name__}: {shown(str(exc), 160)}",
            "quote the value to make it a plain string",
        ) from None
    finally:
        if loader is not None:
            loader.dispose()


def _check_expansion(root: Any, origin: str) -> None:
    """Refuse a node graph whose expanded size exceeds ``MAX_NODES`` or that is cyclic.

    Aliases make the composed graph share nodes; its expanded size is computed once per
    distinct node (memoised), so even a bomb costs a few dozen steps to measure.
    """
    import yaml

    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    # Iterative post-order walk: deep documents must not exhaust the stack here either.
    stack: list[tuple[Any, bool]] = [(root, False)]
    depth = 0
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            visiting.discard(key)
            depth -= 1
            total = 1 + sum(sizes[id(child)] for child in _children(node, yaml))
            if total > MAX_NODES:
                raise ConfigError(
                    origin,
                    f"the document expands to more than {MAX_NODES} values "
                    "(YAML aliases repeated inside aliases)",
                    "write the repeated settings out, or use fewer nested aliases",
                )
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in visiting:
            raise ConfigError(
                origin,
                "a YAML alias refers to the node that contains it",
                "remove the recursive alias",
            )
        depth += 1
        if depth > MAX_DEPTH:
            raise _too_deep(origin)
        visiting.add(key)
        stack.append((node, True))
        for child in _children(node, yaml):
            if id(child) not in sizes:
                stack.append((child, False))


def _children(node: Any, yaml: Any) -> list[Any]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _depth_exceeds(value: object, limit: int) -> bool:
    """True when ``value`` nests lists and mappings deeper than ``limit`` (no recursion)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    seen: set[int] = set()
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            if level > limit:
                return True
            if id(item) in seen:
                continue
            seen.add(id(item))
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return False
