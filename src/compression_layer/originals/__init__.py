"""The reversible tier's originals: kept inputs, their handles, and retrieval by selector.

``select.py`` evaluates a marker's selector on an original text (pure); ``store.py`` keeps
originals content-addressed in SQLite under the data dir and retrieves them by handle.
"""
