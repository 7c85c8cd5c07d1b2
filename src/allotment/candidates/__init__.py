"""The allocation candidates engine.

It is asked a ``groups.Request`` (parsed from the query string by
api/candidates_query.py) and ``groups.Flags`` (the answer's form, derived
there from the microversion): it imports nothing from ``api``.
``snapshot`` keeps every provider in memory (current through the provider
change log), ``find`` resolves the groups against it, ``combine`` searches
each provider tree for valid combinations with early pruning, and
``render`` shapes the answer the flags ask for.
"""
