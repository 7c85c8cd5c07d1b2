"""The allocation candidates engine.

``request`` turns the query string into request groups, ``snapshot`` keeps
every provider in memory (current through the provider change log),
``find`` resolves the groups against it, ``combine`` searches each provider
tree for valid combinations with early pruning, and ``render`` shapes the
answer for the requested microversion.
"""
