"""Paths of the checkout, for tests that read the repository itself (wherever the test lives)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE_DIR = REPO / "src" / "compression_layer"
SHARED_DATA = REPO.parent / "shared" / "data"
