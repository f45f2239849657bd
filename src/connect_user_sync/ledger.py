"""The tool's own record of the Connect users it manages, in the results table.

Connect administrators can tag any user; they cannot write this table. So a user is
managed only when its record here says so and its tags agree (``domain.ownership``).

=====================  ========================================  ===========================
item                   PK / SK                                   attributes
=====================  ========================================  ===========================
owned user             ``OWNED#<instance_id>`` /                 ``username``, ``source_id``,
                       ``USER#<user_id>``                        ``how`` (created|adopted),
                                                                 ``kept_security_profile_ids``,
                                                                 ``recorded_at``, ``run_id``
pending create         ``OWNED#<instance_id>`` /                 ``username``, ``source_id``,
                       ``PENDING#<sha256 of the username>``      ``how``, ``run_id``,
                                                                 ``expires_at`` (TTL)
=====================  ========================================  ===========================

A pending item is written before ``CreateUser`` (or an adoption's first tag) and deleted
when the owned-user item is written, or when the action failed or never started. One a
killed run left behind lets the next run recognise the user it created; DynamoDB's TTL
removes any that nobody confirmed after ``PENDING_DAYS``. An owned-user item is deleted
after ``DeleteUser``. Every item carries the ``run_id`` of the run that wrote it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from connect_user_sync.domain.models import OwnedRecord, PendingRecord
from connect_user_sync.domain.ownership import Ledger, pending_key
from connect_user_sync.errors import TransientError
from connect_user_sync.retry import RetryPolicy

OWNED_PREFIX = "OWNED#"
USER_PREFIX = "USER#"
PENDING_PREFIX = "PENDING#"
PENDING_DAYS = 14
BATCH_SIZE = 25  # BatchWriteItem's limit
LEDGER_RETRY = RetryPolicy(max_attempts=8, base=0.05, cap=5.0)


def _partition(instance_id: str) -> str:
    return f"{OWNED_PREFIX}{instance_id}"


class DynamoOwnershipLedger:
    """An ``OwnershipLedger`` on the results table (``template.yaml``'s ``ResultsTable``).

    Parameters
    ----------
    table_name:
        The results table.
    client:
        A boto3 ``dynamodb`` client; by default one from the standard AWS configuration.
    """

    def __init__(
        self,
        table_name: str,
        *,
        client: Any = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        retry: RetryPolicy = LEDGER_RETRY,
    ) -> None:
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self.table_name = table_name
        self.client = client
        self._clock = clock
        self._retry = replace(retry, sleep=sleep)
        self._serializer = TypeSerializer()
        self._deserializer = TypeDeserializer()

    # ----------------------------------------------------------------- reading

    def owned_users(self, instance_id: str) -> Ledger:
        """Every record and pending create of one instance (a strongly consistent read)."""
        records: list[OwnedRecord] = []
        pending: list[PendingRecord] = []
        for item in self._items(instance_id):
            sort_key = str(item.get("SK", ""))
            kept = frozenset(str(i) for i in item.get("kept_security_profile_ids") or ())
            if sort_key.startswith(USER_PREFIX):
                records.append(
                    OwnedRecord(
                        sort_key[len(USER_PREFIX) :],
                        str(item.get("username", "")),
                        str(item.get("source_id", "")),
                        str(item.get("how", "created")),
                        item.get("run_id"),
                        kept,
                    )
                )
            elif sort_key.startswith(PENDING_PREFIX):
                pending.append(
                    PendingRecord(
                        str(item.get("username", "")),
                        str(item.get("source_id", "")),
                        str(item.get("how", "created")),
                        kept,
                    )
                )
        return Ledger.of(records, pending)

    # ----------------------------------------------------------------- writing

    def write_pending(
        self, instance_id: str, pending: Sequence[PendingRecord], run_id: str
    ) -> None:
        """Announce creates and adoptions before their first Connect call."""
        expires_at = int(self._clock()) + PENDING_DAYS * 86400
        self._batch_write(
            [
                {
                    "PutRequest": {
                        "Item": self._encode(
                            {
                                "PK": _partition(instance_id),
                                "SK": PENDING_PREFIX + pending_key(p.username),
                                "type": "pending_owned_user",
                                "instance_id": instance_id,
                                "username": p.username,
                                "source_id": p.source_id,
                                "how": p.how,
                                **_kept(p.kept_security_profile_ids),
                                "run_id": run_id,
                                "expires_at": expires_at,
                            }
                        )
                    }
                }
                for p in pending
            ]
        )

    def write(
        self,
        instance_id: str,
        run_id: str,
        *,
        records: Sequence[OwnedRecord] = (),
        forget: Collection[str] = (),
        settled: Collection[str] = (),
    ) -> None:
        """Record owned users, forget deleted ones (by user id), drop settled pending items
        (by username). One batch; a key is written at most once."""
        now = datetime.fromtimestamp(self._clock(), UTC).isoformat(timespec="seconds")
        requests: dict[str, Mapping[str, Any]] = {}
        for record in records:
            item = {
                "PK": _partition(instance_id),
                "SK": USER_PREFIX + record.user_id,
                "type": "owned_user",
                "instance_id": instance_id,
                "user_id": record.user_id,
                "username": record.username,
                "source_id": record.source_id,
                "how": record.how,
                **_kept(record.kept_security_profile_ids),
                "recorded_at": now.replace("+00:00", "Z"),
                "run_id": record.run_id or run_id,
            }
            requests[item["SK"]] = {"PutRequest": {"Item": self._encode(item)}}
        for user_id in forget:
            key = USER_PREFIX + user_id
            requests[key] = {"DeleteRequest": {"Key": self._key(instance_id, key)}}
        for username in settled:
            key = PENDING_PREFIX + pending_key(username)
            requests.setdefault(key, {"DeleteRequest": {"Key": self._key(instance_id, key)}})
        self._batch_write(list(requests.values()))

    # ----------------------------------------------------------------- low level

    def _key(self, instance_id: str, sort_key: str) -> dict[str, Any]:
        return self._encode({"PK": _partition(instance_id), "SK": sort_key})

    def _encode(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._serializer.serialize(v) for k, v in item.items()}

    def _items(self, instance_id: str) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": _partition(instance_id)}},
            "ConsistentRead": True,
        }
        while True:
            response = self.client.query(**request)
            for item in response.get("Items", ()):
                yield {k: self._deserializer.deserialize(v) for k, v in item.items()}
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            request["ExclusiveStartKey"] = last

    def _batch_write(self, requests: Sequence[Mapping[str, Any]]) -> None:
        for start in range(0, len(requests), BATCH_SIZE):
            pending = list(requests[start : start + BATCH_SIZE])
            budget = self._retry.start()
            while pending:
                response = self.client.batch_write_item(RequestItems={self.table_name: pending})
                pending = list((response.get("UnprocessedItems") or {}).get(self.table_name, ()))
                if pending and not budget.wait():
                    raise TransientError(
                        f"DynamoDB left {len(pending)} ownership record(s) unwritten in "
                        f"{self.table_name} after {budget.attempts} attempts",
                        code="UnprocessedItems",
                    )


def _kept(ids: frozenset[str]) -> dict[str, Any]:
    return {"kept_security_profile_ids": sorted(ids)} if ids else {}
