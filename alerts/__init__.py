"""The missing-person alert network: registered persons, cooperators, staff-approved alerts,
sightings, CAP export, and the durable outbox with its fan-out workers (``alerts.fanout``).

It sits beside ``routing`` (which finds the counter and delivers cases): an alert starts
from a missing-person case and may use the directory, never the other way round.
"""
