"""Local emulators of Amazon Connect, Microsoft Graph (with the Entra token endpoint), Okta
and Duo, for the tests and the demo.

They speak each service's real wire protocol so that the unmodified SDKs (boto3, msal,
okta, duo_client) are exercised end to end in tests and in ``make demo``. The IAM Identity
Center identity store needs no emulator of its own: moto serves it.

This package is test and demo support, installed with the ``demo`` extra. The product
imports it only in the ``demo`` and ``sandbox`` verbs, and it imports nothing from the
product but ``connect_user_sync.domain.models`` (checked by import-linter).
"""
