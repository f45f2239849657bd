"""Turning a directory attribute into exactly the username the IdP will assert.

Connect matches the SAML ``RoleSessionName`` against the username byte for byte, case
included. The rules below are the intersection of what a SAML-enabled Connect instance
accepts and what STS accepts as a RoleSessionName.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

MIN_LENGTH = 2
MAX_LENGTH = 64
_ALLOWED = re.compile(r"[A-Za-z0-9_.@-]+")
_DOMAIN_LABEL = re.compile(r"[A-Za-z0-9-]+")
# What sources call the e-mail address among the attributes they offer (Entra: mail).
_MAIL_ATTRIBUTES = ("mail", "email")


@dataclass(frozen=True)
class UsernameResult:
    """Either a usable ``username`` or a ``problem`` a person can act on."""

    username: str | None
    problem: str | None = None


def normalize(raw: str, *, lowercase: bool = False) -> str:
    """Trim, compose to Unicode NFC and, only if the IdP does so too, lower-case."""
    value = unicodedata.normalize("NFC", raw.strip())
    return value.lower() if lowercase else value


def username_problem(value: str, *, mail_attribute: str | None = None) -> str | None:
    """Say why ``value`` cannot be a Connect SAML username, or return None if it can.

    ``mail_attribute`` is the source's own name for the e-mail address, for the advice.
    """
    if "#EXT#" in value.upper():
        advice = (
            f"assert the e-mail address for guests (username.attribute: {mail_attribute})"
            if mail_attribute
            else "assert the guest's e-mail address instead"
        )
        return f"'{value}' is an Entra guest UPN, which can never be a Connect username; {advice}"
    if len(value) < MIN_LENGTH or len(value) > MAX_LENGTH:
        return (
            f"'{value}' is {len(value)} characters long; Connect SAML usernames and STS "
            f"role session names must be {MIN_LENGTH} to {MAX_LENGTH}"
        )
    if not _ALLOWED.fullmatch(value):
        bad = sorted({ch for ch in value if not _ALLOWED.fullmatch(ch)})
        shown = " ".join(repr(ch) for ch in bad)
        return (
            f"'{value}' contains {shown}; only A-Z a-z 0-9 _ . @ - are allowed in a "
            "Connect SAML username"
        )
    if "@" in value:
        local, _, domain = value.partition("@")
        labels = domain.split(".")
        email_like = (
            bool(local)
            and "@" not in domain
            and len(labels) >= 2
            and all(_DOMAIN_LABEL.fullmatch(label) for label in labels)
        )
        if not email_like:
            return f"'{value}' uses '@' but is not shaped like an e-mail address (name@domain.tld)"
    return None


def derive_username(
    attributes: Mapping[str, str | None] | None,
    attribute: str,
    *,
    lowercase: bool = False,
) -> UsernameResult:
    """Compute the username the IdP will assert from the configured ``attribute``."""
    raw = (attributes or {}).get(attribute)
    if raw is None or not raw.strip():
        return UsernameResult(
            None,
            f"the directory user has no '{attribute}' value, so the IdP has nothing to "
            "assert; fill the attribute in the directory or choose another username.attribute",
        )
    value = normalize(raw, lowercase=lowercase)
    mail = next((a for a in _MAIL_ATTRIBUTES if a != attribute and a in (attributes or {})), None)
    problem = username_problem(value, mail_attribute=mail)
    if problem:
        return UsernameResult(None, problem)
    return UsernameResult(value)
