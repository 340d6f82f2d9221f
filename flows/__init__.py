"""Conversation flows, one module per flow; ``flows.registry`` lists the ones the engine runs.

Nothing is imported here, so importing one flow module (or ``flows.base``) loads only
what that module needs.
"""
