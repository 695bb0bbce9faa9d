"""compression-layer."""
