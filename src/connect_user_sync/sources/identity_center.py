"""IAM Identity Center as the directory: the Identity Store API (boto3 ``identitystore``).

No IdP credential is involved, only an IAM role: the Identity Store usually lives in the
organization's management or delegated-admin account, so ``role_arn`` (with an optional
``external_id``) is assumed through STS first. The endpoint follows the standard AWS
configuration (``AWS_ENDPOINT_URL_IDENTITYSTORE``, ``AWS_ENDPOINT_URL``); nothing here names
an AWS host.

How a read goes, and what it costs:

1. Each group in scope is resolved once: ``GetGroupId`` with the ``displayName`` unique
   attribute for ``name:``, ``DescribeGroup`` for ``id:`` (so that a wrong id is a
   configuration error, not a group that silently reads empty).
2. ``ListGroupMemberships``, 100 a page, gives member user ids only. The Identity Store has
   no nested groups, so this is the whole membership.
3. The members' details. There is no batch describe: one ``DescribeUser`` per member costs
   one call per user, while ``ListUsers`` over the whole store costs one call per 100 users
   of the store, members or not. Neither is always cheaper (a 30-person group in a
   50,000-user store; a 5,000-person group in a 6,000-user store), and the store's size is
   not known in advance. So the store is listed page by page while the pages listed so far
   are fewer than the members still missing, and whatever is still missing after that is
   described one by one. This is the classic rent-or-buy rule: it never costs more than
   about twice the cheaper of the two pure strategies, and for large groups it costs one
   call per 100 users of the store, which grows with pages, not with members.

Every call goes through the project's one retry policy with botocore's own retries
switched off, so throttling (``ThrottlingException``, honouring ``RetryAfterSeconds``) and
5xx slow the read down instead of failing it; a page that still fails after that makes the
group, and the snapshot, incomplete. ``AccessDeniedException``, bad credentials or a store
that does not exist are a ``DirectoryReadError`` naming the fix.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connect_user_sync.config.model import USERNAME_ATTRIBUTES, IdentityCenterSourceConfig
from connect_user_sync.domain.models import (
    DirectorySnapshot,
    DirectoryUser,
    GroupRead,
    GroupRule,
)
from connect_user_sync.domain.names import SUGGEST_FROM, did_you_mean
from connect_user_sync.errors import ConfigError, DirectoryReadError, TransientError
from connect_user_sync.retry import RetryPolicy
from connect_user_sync.sources.identity_center_api import IdentityStoreApi, RefusedError, short

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # the API's maximum for ListUsers and ListGroupMemberships
ENABLED_STATUSES = frozenset({"ENABLED"})
DISABLED_STATUSES = frozenset({"DISABLED"})


@dataclass
class _GroupMembers:
    rule: GroupRule
    group_id: str | None
    user_ids: list[str] = field(default_factory=list)
    complete: bool = True


def primary_email(emails: object) -> str | None:
    """The address Identity Center asserts as ``${user:email}``: the one marked primary.

    A single address without the flag is unambiguous and used as is. Several addresses
    with no single primary give None: the user is then reported, never guessed at.
    """
    if not isinstance(emails, list):
        return None
    values = [e for e in emails if isinstance(e, dict) and isinstance(e.get("Value"), str)]
    primaries = [e for e in values if e.get("Primary") is True]
    if len(primaries) == 1:
        return str(primaries[0]["Value"])
    if not primaries and len(values) == 1:
        return str(values[0]["Value"])
    return None


class IdentityCenterSource:
    """Reads the in-scope groups' members from an IAM Identity Center identity store.

    Parameters
    ----------
    config:
        The ``source.identity_center`` section.
    username_attribute:
        ``user_name`` or ``email``: the attribute the Connect application in Identity
        Center asserts as RoleSessionName (``${user:subject}`` / ``${user:email}``).
    client:
        A boto3 ``identitystore`` client; by default one is built from the standard AWS
        configuration in ``config.region`` (after assuming ``config.role_arn``, if set).
    sts_client:
        The boto3 ``sts`` client used to assume ``config.role_arn``.
    session:
        The boto3 session the default clients come from.
    retry_policy:
        How throttling and server errors are retried (``connect_user_sync.retry``).
    """

    type = "identity_center"

    def __init__(
        self,
        config: IdentityCenterSourceConfig,
        username_attribute: str,
        *,
        client: Any = None,
        sts_client: Any = None,
        session: Any = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        if username_attribute not in USERNAME_ATTRIBUTES["identity_center"]:
            raise ConfigError(
                "username.attribute",
                f"{username_attribute!r} is not an attribute the identity_center source offers",
                "use user_name (the application asserts ${user:subject}) or email "
                "(${user:email}), matching the RoleSessionName mapping of the Amazon Connect "
                "application in IAM Identity Center",
            )
        self.config = config
        self.username_attribute = username_attribute
        self._api = IdentityStoreApi(
            config,
            client=client,
            sts_client=sts_client,
            session=session,
            retry_policy=retry_policy,
        )
        self._store = config.identity_store_id

    # ------------------------------------------------------------------ reading

    def read(self, groups: Sequence[GroupRule]) -> DirectorySnapshot:
        # Resolve every group first: a name that does not exist should stop the run
        # before thousands of members are read.
        reads: list[_GroupMembers] = []
        errors: list[str] = []
        for index, rule in enumerate(groups):
            try:
                reads.append(_GroupMembers(rule, self._group_id(index, rule)))
            except TransientError as exc:
                errors.append(
                    f"Identity Center group {rule.label!r}: the lookup failed after retries "
                    f"({exc.code}: {short(exc)}); its members were not read"
                )
                reads.append(_GroupMembers(rule, None, complete=False))

        labels: dict[str, list[str]] = {}
        for read in reads:
            if read.group_id is not None:
                errors.extend(self._read_members(read))
            for user_id in read.user_ids:
                labels.setdefault(user_id, []).append(read.rule.label)

        found, unread, user_errors = self._users(list(labels))
        errors.extend(user_errors)
        users: list[DirectoryUser] = []
        for user_id, user_labels in labels.items():
            raw = found.get(user_id)
            if raw is None:
                continue
            user = self._to_user(raw, user_labels)
            if user is None:
                unread.add(user_id)
                errors.append(
                    f"Identity Center user {raw.get('UserName')!r} (id {user_id}) has the "
                    f"unknown UserStatus {raw.get('UserStatus')!r}; it is left out of this run "
                    "and nothing is deprovisioned until the status is one this tool knows"
                )
                continue
            users.append(user)

        group_reads = []
        for read in reads:
            complete = read.complete and not unread.intersection(read.user_ids)
            group_reads.append(
                GroupRead(read.rule.label, read.group_id, len(read.user_ids), complete=complete)
            )
            log.info(
                "identity center group %r: %d members%s",
                read.rule.label,
                len(read.user_ids),
                "" if complete else " (incomplete)",
            )
        return DirectorySnapshot(
            users=tuple(users),
            groups=tuple(group_reads),
            complete=all(read.complete for read in group_reads),
            errors=tuple(errors),
        )

    def read_users(self, names: Sequence[str], groups: Sequence[GroupRule]) -> DirectorySnapshot:
        """The on-demand path: only the named users and their groups (see
        ``identity_center_lookup``)."""
        from connect_user_sync.sources.identity_center_lookup import read_users

        return read_users(self, names, groups)

    def _group_id(self, index: int, rule: GroupRule) -> str:
        if rule.by_id:
            try:
                response = self._api.call(
                    "DescribeGroup", IdentityStoreId=self._store, GroupId=rule.key
                )
            except RefusedError as exc:
                raise ConfigError(
                    f"groups[{index}].id",
                    f"identity store {self._store} has no group with id {rule.key!r} "
                    f"({exc.code}: {short(exc)})",
                    "copy the Group ID from the group's page under Groups in the IAM Identity "
                    "Center console, or name the group with 'name:'",
                ) from exc
            return str(response.get("GroupId") or rule.key)
        try:
            response = self._api.call(
                "GetGroupId",
                IdentityStoreId=self._store,
                AlternateIdentifier={
                    "UniqueAttribute": {"AttributePath": "displayName", "AttributeValue": rule.key}
                },
            )
        except RefusedError as exc:
            hint = did_you_mean(rule.key, self._group_names())
            raise ConfigError(
                f"groups[{index}].name",
                f"identity store {self._store} has no group named {rule.key!r}{hint} "
                f"({exc.code}: {short(exc)})",
                "use the group's display name exactly as the IAM Identity Center console shows "
                "it (for SCIM-provisioned groups, as the IdP sends it), or give its Group ID "
                "as 'id:'",
            ) from exc
        group_id = response.get("GroupId")
        if not isinstance(group_id, str) or not group_id:
            raise DirectoryReadError(
                f"IAM Identity Center answered GetGroupId for {rule.key!r} without a GroupId"
            )
        return group_id

    def _group_names(self) -> list[str]:
        """Group names to suggest from (a bounded listing); none when the listing fails."""
        names: list[str] = []
        token: str | None = None
        try:
            while len(names) < SUGGEST_FROM:
                params: dict[str, Any] = {"IdentityStoreId": self._store, "MaxResults": 100}
                if token:
                    params["NextToken"] = token
                response = self._api.call("ListGroups", **params)
                groups = response.get("Groups") or []
                names.extend(str(g.get("DisplayName") or "") for g in groups)
                token = response.get("NextToken")
                if not token or not groups:
                    break
        except Exception:  # only a suggestion: the configuration error is raised either way
            log.debug("listing groups for a suggestion failed", exc_info=True)
        return names

    def _read_members(self, read: _GroupMembers) -> list[str]:
        """Fill ``read.user_ids`` from ListGroupMemberships; return error messages."""
        assert read.group_id is not None
        seen: set[str] = set()
        tokens: set[str] = set()
        token: str | None = None
        page = 1
        try:
            while True:
                params: dict[str, Any] = {
                    "IdentityStoreId": self._store,
                    "GroupId": read.group_id,
                    "MaxResults": PAGE_SIZE,
                }
                if token:
                    params["NextToken"] = token
                response = self._api.call("ListGroupMemberships", **params)
                for membership in response.get("GroupMemberships") or []:
                    member = membership.get("MemberId") if isinstance(membership, dict) else None
                    user_id = member.get("UserId") if isinstance(member, dict) else None
                    if isinstance(user_id, str) and user_id and user_id not in seen:
                        seen.add(user_id)
                        read.user_ids.append(user_id)
                token = response.get("NextToken") or None
                if token is None:
                    return []
                if token in tokens:
                    read.complete = False
                    return [
                        f"Identity Center group {read.rule.label!r}: the service sent the same "
                        f"NextToken twice (page {page}); its member list is incomplete"
                    ]
                tokens.add(token)
                page += 1
        except TransientError as exc:
            read.complete = False
            return [
                f"Identity Center group {read.rule.label!r} (id {read.group_id}): membership "
                f"page {page} failed after retries ({exc.code}: {short(exc)}); its member list "
                f"is incomplete ({len(read.user_ids)} members read before the failure)"
            ]
        except RefusedError as exc:
            read.complete = False
            return [
                f"Identity Center group {read.rule.label!r} (id {read.group_id}): membership "
                f"page {page} was refused ({exc.code}: {short(exc)}); its member list is "
                "incomplete"
            ]

    def _users(
        self, user_ids: Sequence[str]
    ) -> tuple[dict[str, dict[str, Any]], set[str], list[str]]:
        """Details of ``user_ids`` with as few calls as the API allows (see the module doc).

        Returns the users found, the ids that could not be read, and error messages.
        """
        missing = set(user_ids)
        found: dict[str, dict[str, Any]] = {}
        errors: list[str] = []
        pages = 0
        token: str | None = None
        tokens: set[str] = set()
        # Rent or buy: one more page of the whole store while that is still cheaper than
        # describing every member not found yet. A single member is described at once.
        while len(missing) > 1 and pages < len(missing):
            params: dict[str, Any] = {"IdentityStoreId": self._store, "MaxResults": PAGE_SIZE}
            if token:
                params["NextToken"] = token
            try:
                response = self._api.call("ListUsers", **params)
            except (TransientError, RefusedError) as exc:
                # Not fatal: the members still missing are described one by one below.
                log.warning(
                    "identity center ListUsers page %d failed (%s); describing the %d "
                    "remaining members instead",
                    pages + 1,
                    exc,
                    len(missing),
                )
                break
            pages += 1
            for user in response.get("Users") or []:
                user_id = user.get("UserId") if isinstance(user, dict) else None
                if user_id in missing:
                    found[user_id] = user
                    missing.discard(user_id)
            token = response.get("NextToken") or None
            if token is None or token in tokens:
                break
            tokens.add(token)
        if pages:
            log.info(
                "identity center: %d store pages listed, %d members left to describe",
                pages,
                len(missing),
            )

        unread: set[str] = set()
        for user_id in sorted(missing):
            try:
                found[user_id] = self._api.call(
                    "DescribeUser", IdentityStoreId=self._store, UserId=user_id
                )
            except RefusedError as exc:
                if exc.code == "ResourceNotFoundException":
                    # Deleted between the membership page and now: gone, like a leaver.
                    log.warning("identity center user %s vanished during the read", user_id)
                    continue
                unread.add(user_id)
                errors.append(
                    f"Identity Center user {user_id}: DescribeUser was refused "
                    f"({exc.code}: {short(exc)}); the groups it belongs to are incomplete"
                )
            except TransientError as exc:
                unread.add(user_id)
                errors.append(
                    f"Identity Center user {user_id}: DescribeUser failed after retries "
                    f"({exc.code}: {short(exc)}); the groups it belongs to are incomplete"
                )
        return found, unread, errors

    def _to_user(self, raw: Mapping[str, Any], labels: Iterable[str]) -> DirectoryUser | None:
        status = raw.get("UserStatus")
        if status is None or status in ENABLED_STATUSES:
            enabled = True  # stores and emulators that predate UserStatus send none
        elif status in DISABLED_STATUSES:
            enabled = False
        else:
            return None
        email = primary_email(raw.get("Emails"))
        raw_name = raw.get("Name")
        name: Mapping[str, Any] = raw_name if isinstance(raw_name, dict) else {}
        user_name = raw.get("UserName")
        return DirectoryUser(
            source_id=str(raw["UserId"]),
            attributes={
                "user_name": user_name if isinstance(user_name, str) else None,
                "email": email,
            },
            first_name=name.get("GivenName"),
            last_name=name.get("FamilyName"),
            email=email,
            enabled=enabled,
            groups=tuple(labels),
        )
