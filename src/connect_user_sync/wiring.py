"""Wiring the results store and the alerter: one way, for the CLI and the Lambda alike.

Order of precedence, the same everywhere: the environment wins over the configuration
file. ``RESULTS_TABLE`` overrides ``results.table`` and ``ALERTS_TOPIC_ARN`` overrides
``alerts.topic_arn``; an unset or empty variable leaves the file's value. That is the AWS
tools' own rule (environment over configuration file), and it lets the stack point its
function at the table and topic it created whatever the configuration document says.
Neither set: no store and no alerter, and a run still works (without the results table
an emptied group cannot be noticed, see ``domain.safety``).

``ACTION_TTL_DAYS`` says how long action and mismatch items stay in the table (90 days).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from connect_user_sync.alerts import SnsAlerter
from connect_user_sync.config import Config
from connect_user_sync.errors import ConfigError
from connect_user_sync.ledger import DynamoOwnershipLedger
from connect_user_sync.store import DynamoRunStore

RESULTS_TABLE_ENV = "RESULTS_TABLE"
ALERTS_TOPIC_ENV = "ALERTS_TOPIC_ARN"
HISTORY_DAYS_ENV = "ACTION_TTL_DAYS"
DEFAULT_HISTORY_DAYS = 90


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def results_table(config: Config | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The results table: ``RESULTS_TABLE``, else ``results.table``, else None."""
    return _environ(environ).get(RESULTS_TABLE_ENV) or (config.results_table if config else None)


def alerts_topic(config: Config | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The alerts topic: ``ALERTS_TOPIC_ARN``, else ``alerts.topic_arn``, else None."""
    return _environ(environ).get(ALERTS_TOPIC_ENV) or (config.alerts_topic_arn if config else None)


def with_environment(config: Config, environ: Mapping[str, str] | None = None) -> Config:
    """The configuration with the environment's table and topic applied."""
    return dataclasses.replace(
        config,
        results_table=results_table(config, environ),
        alerts_topic_arn=alerts_topic(config, environ),
    )


def history_days(environ: Mapping[str, str] | None = None) -> int:
    raw = _environ(environ).get(HISTORY_DAYS_ENV) or str(DEFAULT_HISTORY_DAYS)
    try:
        days = int(raw)
    except ValueError:
        days = 0
    if days < 1:
        raise ConfigError(
            HISTORY_DAYS_ENV,
            f"{raw!r} is not a number of days",
            f"use a whole number of days above 0 (default {DEFAULT_HISTORY_DAYS}), or unset it",
        )
    return days


def build_store(
    config: Config | None, environ: Mapping[str, str] | None = None
) -> DynamoRunStore | None:
    """The results store, or None when no table is configured."""
    table = results_table(config, environ)
    if not table:
        return None
    return DynamoRunStore(table, action_ttl_days=history_days(environ))


def build_ledger(
    config: Config | None, environ: Mapping[str, str] | None = None
) -> DynamoOwnershipLedger | None:
    """The tool's record of the users it manages: in the results table, or None without
    one (ownership then rests on the tags, and nothing is deleted)."""
    table = results_table(config, environ)
    return DynamoOwnershipLedger(table) if table else None


def build_alerter(
    config: Config | None, environ: Mapping[str, str] | None = None
) -> SnsAlerter | None:
    """The alerter, or None when no topic is configured."""
    topic = alerts_topic(config, environ)
    return SnsAlerter(topic) if topic else None
