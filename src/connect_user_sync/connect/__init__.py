"""The Amazon Connect adapter, one concern per module.

- ``throttle``: adaptive token buckets per operation, one rate limiter per quota scope, per run;
- ``schedule``: the write scheduler that keeps every operation's bucket busy side by side;
- ``writes``: SearchUsers results to ``ConnectUser``, and each action's calls as a program;
- ``catalog``: reading an instance's security profiles, routing profiles, hierarchy groups;
- ``instance``: reading users and applying actions, with retries and the run's deadline;
- ``client``: the boto3 client of a target, with STS assume-role across accounts.
"""

from connect_user_sync.connect.catalog import read_catalog
from connect_user_sync.connect.client import connect_client
from connect_user_sync.connect.instance import ConnectInstance
from connect_user_sync.connect.schedule import WriteScheduler
from connect_user_sync.connect.throttle import (
    DeadlineReached,
    RateLimiter,
    ThrottleRegistry,
    TokenBucket,
    quota_scope,
    rate_multiplier,
)
from connect_user_sync.connect.writes import phone_config, user_from_search

__all__ = [
    "ConnectInstance",
    "DeadlineReached",
    "RateLimiter",
    "ThrottleRegistry",
    "TokenBucket",
    "WriteScheduler",
    "connect_client",
    "phone_config",
    "quota_scope",
    "rate_multiplier",
    "read_catalog",
    "user_from_search",
]
