"""The one exception of the process connector, apart from it: the daemon catches it on every
start and reload, and imports track/proc_connector.py (and its process table) only when a
configuration has a `vrrp_track_process` (issue 18: memory of a daemon that tracks no process).
"""


class ConnectorUnavailable(Exception):
    """The process connector cannot be used here; the message says why, in words."""
