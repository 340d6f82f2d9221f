"""The staff console under /staff: server-rendered pages (Jinja2) for counter staff, the alert desk,
managers and admins, sharing the staff API's permission checks."""
