"""Alert fan-out: ``enqueue`` writes who gets what into the outbox, ``outbox`` claims, leases
and records rows, ``senders`` talk to each platform, ``runner`` drains the outbox in this
process, ``worker`` in Dramatiq actors, ``commands`` is the CLI."""
