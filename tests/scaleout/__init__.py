"""Multi-process fault tests of the scale-out roles (issue 6): workers, senders, PostgreSQL."""
