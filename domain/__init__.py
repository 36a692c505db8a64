"""miljo's domain: aggregates, events, rules, policies and the embedding facade.

This package imports only the standard library, ``attrs`` and ``eventsourcing``; never
``adapters`` or ``cli`` (enforced by tests/unit/test_architecture.py).
"""
