"""The pure core: models, username rules, planning and safety. No I/O, no SDKs."""
