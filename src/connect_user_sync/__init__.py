"""connect-user-sync: keep Amazon Connect users in step with an identity provider."""

__version__ = "0.1.0"
