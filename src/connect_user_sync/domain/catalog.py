"""The names a Connect instance knows, and looking a configured name up among them.

A lookup never raises: it returns what it found (one id, several, or none, with the
closest spelling), and the configuration layer decides what a miss means for the person
who wrote the name (``config.resolve``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from connect_user_sync.domain.names import closest

SECURITY_PROFILE = "security profile"
ROUTING_PROFILE = "routing profile"
HIERARCHY_GROUP = "hierarchy group"


@dataclass(frozen=True)
class Lookup:
    """The result of looking one name up: ``found`` is its id when exactly one matches."""

    name: str
    kind: str
    ids: tuple[str, ...]
    known: tuple[str, ...]  # every name of this kind in the instance, sorted

    @property
    def found(self) -> str | None:
        return self.ids[0] if len(self.ids) == 1 else None

    @property
    def ambiguous(self) -> bool:
        return len(self.ids) > 1

    @property
    def closest(self) -> str | None:
        """The known name most likely meant (letter case first, then spelling)."""
        return closest(self.name, self.known)


def _index(pairs: Iterable[tuple[str, str]]) -> Mapping[str, tuple[str, ...]]:
    ids: dict[str, tuple[str, ...]] = {}
    for name, item_id in pairs:
        ids[name] = (*ids.get(name, ()), item_id)
    return MappingProxyType(ids)


@dataclass(frozen=True)
class Catalog:
    """One instance's security profiles, routing profiles and hierarchy groups: name -> ids."""

    security_profiles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    routing_profiles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    hierarchy_groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        security_profiles: Iterable[tuple[str, str]],
        routing_profiles: Iterable[tuple[str, str]],
        hierarchy_groups: Iterable[tuple[str, str]],
    ) -> Catalog:
        """Build from (name, id) pairs as the List* calls return them."""
        return cls(_index(security_profiles), _index(routing_profiles), _index(hierarchy_groups))

    def security_profile(self, name: str) -> Lookup:
        return _lookup(self.security_profiles, name, SECURITY_PROFILE)

    def routing_profile(self, name: str) -> Lookup:
        return _lookup(self.routing_profiles, name, ROUTING_PROFILE)

    def hierarchy_group(self, name: str) -> Lookup:
        return _lookup(self.hierarchy_groups, name, HIERARCHY_GROUP)

    def names_by_id(self) -> dict[str, str]:
        """Every id with its name, for reports that show names."""
        return {
            item_id: name
            for kind in (self.security_profiles, self.routing_profiles, self.hierarchy_groups)
            for name, ids in kind.items()
            for item_id in ids
        }


def _lookup(index: Mapping[str, tuple[str, ...]], name: str, kind: str) -> Lookup:
    return Lookup(name, kind, index.get(name, ()), tuple(sorted(index)))
