"""The local lab (not shipped with the collection)."""
