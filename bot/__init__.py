"""The application: Telegram, storage, delivery, scheduling, CLI and configuration."""
