"""Who hears what: the rule language, the rule index, story grouping and digests.

Pure: no network, no database, no Telegram. Builds only on `feeds.models`.
"""
