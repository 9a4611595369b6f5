"""`make bench`: the service against a bare Quart app, on the same server, in the same run."""
