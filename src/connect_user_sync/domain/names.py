"""The closest known name to one that was not found: the "did you mean" of every message.

One rule for configuration keys, directory group names and Connect names alike: a name
that differs only in letter case (or in underscores, for keys) wins; otherwise the most
similar name by ``difflib``'s ratio, if it is similar enough to be a likely typo.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

CUTOFF = 0.6  # difflib's own default: "Agnets" finds "Agents", "Finance" finds nothing
# A source that must list its groups to suggest one stops after this many: a suggestion is
# worth a few pages, not a crawl of a directory with tens of thousands of groups.
SUGGEST_FROM = 2000


def _folded(name: str) -> str:
    return name.casefold().replace("_", "").replace("-", "").replace(" ", "")


def closest(name: str, known: Iterable[str], *, cutoff: float = CUTOFF) -> str | None:
    """The known name ``name`` most likely meant, or None when none is close."""
    candidates = sorted({k for k in known if k and k != name})
    if not candidates:
        return None
    folded = _folded(name)
    same = [k for k in candidates if _folded(k) == folded]
    if same:
        return same[0]
    by_fold = {_folded(k): k for k in reversed(candidates)}
    match = difflib.get_close_matches(folded, list(by_fold), n=1, cutoff=cutoff)
    return by_fold[match[0]] if match else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'X'?)`` for a message, or an empty string."""
    match = closest(name, known)
    return f" (did you mean {match!r}?)" if match else ""
