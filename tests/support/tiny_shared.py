"""A tiny shared-data folder in the real layout, for evaluation and e2e tests."""

from __future__ import annotations

from pathlib import Path

from shared_layout import write_shared

PARAGRAPH = "The Harlow Bridge opened on 12 March 1931. It spans 412 metres across the Tesk river."


def tiny_shared(root: Path) -> Path:
    """A shared-data folder in the real layout: 8 SQuAD articles and 3 NQ rows."""
    return write_shared(
        root, PARAGRAPH, squad_qa=("When?", "12 March 1931"), nq_qa=("How long?", "412 metres"),
        nq_rows=3,
    )  # fmt: skip
