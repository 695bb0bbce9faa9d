"""Fixtures of the validation tests: the fake provider server, settings pointing at it, keys."""

from val_settings import fake_api, keys, settings

__all__ = ["fake_api", "keys", "settings"]
