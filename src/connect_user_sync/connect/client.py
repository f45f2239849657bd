"""Building the boto3 Connect client of one target, across accounts when asked to."""

from __future__ import annotations

from typing import Any

USER_AGENT = "connect-user-sync"


def connect_client(
    region: str, *, role_arn: str | None = None, external_id: str | None = None, session: Any = None
) -> Any:
    """A boto3 Connect client for one target.

    Endpoints follow the standard AWS configuration (``AWS_ENDPOINT_URL_CONNECT``); for a
    cross-account target the role is assumed through STS first. botocore's own retries are
    off: ``ConnectInstance`` retries by itself, because botocore would retry the
    users-per-instance ``LimitExceededException`` as if it were throttling.
    """
    import boto3
    from botocore.config import Config as BotoConfig

    config = BotoConfig(
        retries={"total_max_attempts": 1},
        connect_timeout=5,
        read_timeout=30,
        max_pool_connections=16,
        user_agent_extra=USER_AGENT,
    )
    base = session or boto3.session.Session()
    if role_arn:
        sts = base.client("sts", region_name=region)
        params: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": USER_AGENT}
        if external_id:
            params["ExternalId"] = external_id
        creds = sts.assume_role(**params)["Credentials"]
        base = boto3.session.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=region,
        )
    return base.client("connect", region_name=region, config=config)
