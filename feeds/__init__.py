"""News in: fetch feeds politely, parse them into `Item`s and extract `Signals`.

Knows HTTP and feed formats, nothing of users, storage or Telegram.
"""
