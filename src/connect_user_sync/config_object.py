"""The configuration document as an S3 object, for configurations of any size.

An SSM String parameter holds 4 KB and the Advanced tier 8 KB: a deployment with 50
targets and 200 groups needs far more (about 30 KB in YAML), and a CloudFormation
parameter cannot carry more than 4 KB either. So the stack can keep the document in its
bucket instead (``ConfigSource=s3``) and hands the functions ``CONFIG_S3_URI``; people
upload it with ``aws s3 cp``. Versioning on the bucket keeps every earlier document.

Reads are cached like the SSM parameter (``max_age`` seconds), so warm invocations do not
fetch the object again and a new upload is picked up without a redeploy. Every failure is
a ``ConfigError`` naming ``CONFIG_S3_URI`` and saying what to do, which the functions turn
into the ``ConfigErrors`` metric and its alarm.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from connect_user_sync.errors import ConfigError

CONFIG_S3_URI_ENV = "CONFIG_S3_URI"
MAX_DOCUMENT_BYTES = 1024 * 1024  # far above any real configuration; stops a wrong object

_cache: dict[str, tuple[float, str]] = {}
_lock = threading.Lock()


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``(bucket, key)`` of ``s3://BUCKET/KEY``; anything else is a ``ConfigError``."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not key:
        raise ConfigError(
            CONFIG_S3_URI_ENV,
            f"{uri[:200]!r} is not an S3 object URI",
            "set it to s3://BUCKET/KEY, e.g. the stack's output ConfigObjectUri",
        )
    return bucket, key


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def read_config_object(
    uri: str,
    *,
    max_age: float = 300,
    client: Any = None,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """The text of the configuration object at ``uri`` (UTF-8), cached ``max_age`` seconds."""
    bucket, key = parse_s3_uri(uri)
    with _lock:
        cached = _cache.get(uri)
    if cached is not None and clock() - cached[0] < max_age:
        return cached[1]
    text = _fetch(uri, bucket, key, client)
    with _lock:
        _cache[uri] = (clock(), text)
    return text


def _fetch(uri: str, bucket: str, key: str, client: Any) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    where = f"{CONFIG_S3_URI_ENV} ({uri})"
    if client is None:
        import boto3

        client = boto3.client("s3")
    try:
        response = client.get_object(Bucket=bucket, Key=key)
        size = int(response.get("ContentLength") or 0)
        if size > MAX_DOCUMENT_BYTES:
            response["Body"].close()
            raise ConfigError(
                where,
                f"the object is {size} bytes; a configuration document is at most "
                f"{MAX_DOCUMENT_BYTES} bytes",
                "check that the URI names the configuration, not another object",
            )
        body = response["Body"].read()
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        raise ConfigError(where, *_explain(code, uri, bucket, key)) from exc
    except BotoCoreError as exc:
        raise ConfigError(
            where,
            f"S3 could not be reached: {exc}",
            "check the network and the AWS configuration of this environment",
        ) from exc
    try:
        text: str = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            where,
            f"the object is not UTF-8 text ({exc.reason} at byte {exc.start})",
            "save the configuration as UTF-8 and upload it again",
        ) from exc
    return text


def _explain(code: str, uri: str, bucket: str, key: str) -> tuple[str, str]:
    if code in ("NoSuchKey", "404"):
        return (
            "the object does not exist",
            f"upload the configuration: aws s3 cp sync.yaml {uri}",
        )
    if code == "NoSuchBucket":
        return (
            f"the bucket {bucket} does not exist",
            "use the stack's output ConfigObjectUri, or the bucket you created for it",
        )
    if code in ("AccessDenied", "403", "AllAccessDisabled"):
        return (
            "this function may not read the object",
            f"allow s3:GetObject on arn:aws:s3:::{bucket}/{key} (the stack does when "
            "ConfigSource is s3), and kms:Decrypt if the object is encrypted with a KMS key",
        )
    return (f"S3 answered {code or 'an error'}", "check the object and try again")


__all__ = ["CONFIG_S3_URI_ENV", "clear_cache", "parse_s3_uri", "read_config_object"]
