"""The allocation candidates engine.

``request`` turns the query string into request groups, ``find`` resolves
them against the database in a fixed number of set-oriented queries,
``combine`` searches each provider tree for valid combinations with early
pruning, and ``render`` shapes the answer for the requested microversion.
"""
