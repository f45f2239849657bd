"""Reading secrets by ARN. Values never come from plain configuration in production."""

from __future__ import annotations

from connect_user_sync.errors import ConfigError

_CACHE_SECONDS = 300


def resolve_secret(arn: str | None, inline: str | None, *, key_path: str) -> str:
    """Return the secret value: from Secrets Manager when ``arn`` is set, else ``inline``.

    Reads go through Powertools Parameters, which caches values for five minutes so that
    warm Lambda invocations do not call Secrets Manager again. The endpoint follows the
    standard AWS configuration (``AWS_ENDPOINT_URL_SECRETS_MANAGER``).
    """
    if inline:
        return inline
    if not arn:
        raise ConfigError(key_path, "no secret given", "give the Secrets Manager ARN of the secret")
    from aws_lambda_powertools.utilities import parameters

    try:
        value = parameters.get_secret(arn, max_age=_CACHE_SECONDS)
    except parameters.exceptions.GetParameterError as exc:
        from connect_user_sync.errors import DirectoryReadError

        raise DirectoryReadError(f"cannot read secret {arn} ({key_path}): {exc}") from exc
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    return str(value).strip()
