"""The pure core, no I/O and no SDKs: models, username rules, group settings, the planner,
the safety gate, Connect name lookups, the takeover decision, what each mismatch means, and
the typed run report with its derived facts."""
