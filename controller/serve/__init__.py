"""`aliasctl serve`: the continuous controller (cycle, HTTP endpoints, metrics, notifications)."""
