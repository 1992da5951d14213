"""Telegram handlers, one module per concern; `bot.app.build_application` registers them."""
