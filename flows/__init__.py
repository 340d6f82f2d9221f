"""Conversation flows: one module per flow, registered with the engine."""
