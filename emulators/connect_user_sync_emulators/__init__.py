"""Local emulators of Amazon Connect, Microsoft Graph, Okta and Duo.

They speak each service's real wire protocol so that the unmodified SDKs (boto3, msal,
okta, duo_client) are exercised end to end in tests and in ``make demo``.
"""
