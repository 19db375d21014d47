"""Turn raw corpus strings into token batches for the transformer detectors.

Corpus text is hostile input: empty strings, a single word, megabyte pages, lone UTF-16
surrogates from broken decoders. A detector must give every one of them a defined score, so the
cleaning and truncation happen here, once, before any tokenizer sees the text:

- anything that is not a `str` (None) becomes "", and lone surrogates become U+FFFD (the Rust
  tokenizers refuse them);
- text is cut to `max_tokens * CHARS_PER_TOKEN_CAP` characters before tokenising, so a 1 MB page
  costs no more than a page of `max_tokens` tokens, then the ids are cut to `max_tokens`;
- batches are formed from length-sorted texts, so padding (and wasted compute) stays small.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

#: A token is rarely longer than this many characters; the character cut keeps a margin.
CHARS_PER_TOKEN_CAP = 32

_SURROGATES = re.compile("[\ud800-\udfff]")


def clean_text(text: object) -> str:
    """A string every tokenizer accepts: None -> "", lone surrogates -> U+FFFD."""
    if text is None:
        return ""
    if not isinstance(text, str):
        text = str(text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _SURROGATES.sub("\ufffd", text)
    return text


def encode_texts(tokenizer: Any, texts: Sequence[object], max_tokens: int,
                 add_special_tokens: bool = True) -> list[list[int]]:
    """Token ids per text, each cut to `max_tokens` (the tokenizer's own special tokens kept)."""
    if max_tokens < 2:
        raise ValueError(f"max_tokens must be at least 2 (one context and one scored token), got {max_tokens}")
    cut = max_tokens * CHARS_PER_TOKEN_CAP
    cleaned = [clean_text(t)[:cut] for t in texts]
    if not cleaned:
        return []
    enc = tokenizer(cleaned, add_special_tokens=add_special_tokens, truncation=True,
                    max_length=max_tokens)
    return [list(ids)[:max_tokens] for ids in enc["input_ids"]]


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, longest first (peak memory shows early)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[k:k + batch_size] for k in range(0, len(order), batch_size)]


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int, device: str) -> tuple[Any, Any]:
    """Right-padded `input_ids` and `attention_mask` tensors on `device`."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), int(pad_id), dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, s in enumerate(seqs):
        ids[row, :len(s)] = torch.tensor(list(s), dtype=torch.long)
        mask[row, :len(s)] = 1
    return ids.to(device), mask.to(device)
