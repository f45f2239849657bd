"""Reading an instance's catalog: security profiles, routing profiles, hierarchy groups.

The names and ids come from the three List* calls; what a name means for a configuration
(a lookup result, never an exception) is ``domain.catalog``'s business.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from connect_user_sync.domain.catalog import Catalog

LIST_PAGE = 1000

# operation, list key, page size -> the items of every page
Pages = Callable[[str, str, int], Iterable[Mapping[str, Any]]]


def read_catalog(pages: Pages) -> Catalog:
    """Every security profile, routing profile and hierarchy group of one instance."""

    def pairs(operation: str, key: str) -> list[tuple[str, str]]:
        return [(str(i["Name"]), str(i["Id"])) for i in pages(operation, key, LIST_PAGE)]

    return Catalog.of(
        pairs("ListSecurityProfiles", "SecurityProfileSummaryList"),
        pairs("ListRoutingProfiles", "RoutingProfileSummaryList"),
        pairs("ListUserHierarchyGroups", "UserHierarchyGroupSummaryList"),
    )
