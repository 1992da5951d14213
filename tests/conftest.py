"""Project-wide fixtures: the fake Telegram Bot API server (tests/fakes)."""

pytest_plugins = ["tests.fakes.fixtures"]
