"""Counter directory, area resolution, counter choice, cases and their delivery to counters.

Modules: ``directory`` (CSV import), ``snapshot`` (the in-memory directory),
``areas`` (place → town → care area → ward), ``hours`` (opening hours and
holidays), ``counters`` (the one counter for a matter), ``cases`` (lifecycle,
deadlines, linking repeat reports), ``targets`` / ``methods`` / ``delivery``
(where and how counters receive cases), ``commands`` (the CLI).
"""
