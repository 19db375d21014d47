"""Text statistics on whole batches: the token estimate (`records.estimate_tokens`) and its
parts, word counts (`len(text.split())`) and unspaced-script characters, for Python strings
and, without making Python strings, for Arrow string arrays.

Kernels only, used by the readers' row building (`auditor.readers.provenance_rows`) and the
columnar reader; nothing here knows about the store.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.records import UNSPACED_RANGES, token_estimates, unspaced_chars


def word_counts(texts: Sequence[str]) -> np.ndarray:
    """`len(text.split())` for each text (float64), as in `records.estimate_tokens`.

    ASCII texts are counted together with numpy (a word starts where a non-space follows a
    space or the start of a text), which is several times faster than splitting each text into
    Python strings; other texts fall back to `str.split`, whose Unicode whitespace rules are
    the definition.
    """
    n = len(texts)
    counts = np.zeros(n, dtype=np.float64)
    ascii_idx = [i for i, t in enumerate(texts) if t.isascii()]
    ascii_set = set(ascii_idx)
    for i, t in enumerate(texts):
        if i not in ascii_set:
            counts[i] = len(t.split())
    if not ascii_idx:
        return counts
    chunk = [texts[i] for i in ascii_idx]
    buf = np.frombuffer("".join(chunk).encode("ascii"), dtype=np.uint8)
    if buf.size == 0:
        return counts
    lengths = np.fromiter((len(t) for t in chunk), dtype=np.int64, count=len(chunk))
    starts = np.zeros(len(chunk), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    space = buf == 32  # comparisons, not a table lookup: several times faster in numpy
    space |= (buf - np.uint8(9)) <= 4  # \t \n \v \f \r (uint8 wraps below 9)
    space |= (buf - np.uint8(28)) <= 3  # \x1c-\x1f
    prev_space = np.empty_like(space)
    prev_space[0] = True
    prev_space[1:] = space[:-1]
    nonempty = lengths > 0
    prev_space[starts[nonempty]] = True
    word_start = ~space & prev_space
    per_text = np.zeros(len(chunk), dtype=np.float64)
    if nonempty.any():
        per_text[nonempty] = np.add.reduceat(word_start, starts[nonempty], dtype=np.int64)
    counts[ascii_idx] = per_text
    return counts


def unspaced_counts(texts: Sequence[str]) -> np.ndarray:
    """`records.unspaced_chars` of each text (int64): the unspaced-script characters the token
    estimate counts beside the words."""
    return np.fromiter((unspaced_chars(t) for t in texts), dtype=np.int64, count=len(texts))


def token_counts(texts: Sequence[str]) -> np.ndarray:
    """`records.estimate_tokens` of each text (int64), for Python strings."""
    return token_estimates(word_counts(texts), unspaced_counts(texts))


def arrow_token_counts(texts: pa.Array, ascii_only: bool | None = None,
                       controls: bool | None = None) -> np.ndarray:
    """`records.estimate_tokens` of each text of a null-free Arrow string array (int64), from
    its UTF-8 bytes (`arrow_word_counts`, `arrow_unspaced_chars`)."""
    if ascii_only is None or controls is None:
        low, high = byte_bounds(text_bytes(texts)[0])
        ascii_only, controls = high < 0x80, low < 0x20
    words = arrow_word_counts(texts, ascii_only, controls)
    if ascii_only:
        return token_estimates(words, 0)
    return token_estimates(words, arrow_unspaced_chars(texts))


def arrow_unspaced_chars(texts: pa.Array) -> np.ndarray:
    """`records.unspaced_chars` of each text of a null-free Arrow string array (int64), from
    its UTF-8 bytes: the code point of every 3- and 4-byte sequence (all of `UNSPACED_RANGES`
    lies there) tested against the ranges, counted per text."""
    n = len(texts)
    buf, offsets = text_bytes(texts)
    lead = np.flatnonzero(np.greater_equal(buf, 0xE0, out=_SCRATCH.get("tmp", buf.size)))
    if not lead.size:
        return np.zeros(n, dtype=np.int64)
    lead = lead[lead + 2 < buf.size]  # valid UTF-8 always has them; a broken tail is not counted
    b0, b1, b2 = (buf[lead].astype(np.int32), buf[lead + 1].astype(np.int32),
                  buf[lead + 2].astype(np.int32))
    points = ((b0 & 0x0F) << 12) | ((b1 & 0x3F) << 6) | (b2 & 0x3F)
    four = b0 >= 0xF0
    if four.any():
        at = lead[four]
        b3 = np.where(at + 3 < buf.size, buf[np.minimum(at + 3, buf.size - 1)], 0).astype(np.int32)
        points[four] = (((b0[four] & 0x07) << 18) | ((b1[four] & 0x3F) << 12)
                        | ((b2[four] & 0x3F) << 6) | (b3 & 0x3F))
    inside = np.zeros(points.size, dtype=bool)
    for low, high in UNSPACED_RANGES:
        inside |= (points >= low) & (points <= high)
    rows = np.searchsorted(offsets, lead[inside], side="right") - 1
    return np.bincount(rows, minlength=n).astype(np.int64)


#: Lead bytes of the UTF-8 encodings of the non-ASCII characters `str.split` treats as
#: whitespace (U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000).
_UNICODE_SPACE_LEADS = (0xC2, 0xE1, 0xE2, 0xE3)


class _Scratch(threading.local):
    """Reused work buffers: fresh multi-megabyte arrays per batch cost more in page faults
    than the comparisons written into them."""

    def __init__(self) -> None:
        self.buffers: dict[str, np.ndarray] = {}

    def get(self, name: str, size: int) -> np.ndarray:
        buf = self.buffers.get(name)
        if buf is None or buf.size < size:
            buf = self.buffers[name] = np.empty(max(size, 1 << 20), dtype=bool)
        return buf[:size]


_SCRATCH = _Scratch()


def text_bytes(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(UTF-8 bytes, offsets from 0) of a string array, viewed in place, not copied."""
    n = len(texts)
    width = np.int64 if pa.types.is_large_string(texts.type) else np.int32
    _, off_buf, data_buf = texts.buffers()
    offsets = np.frombuffer(off_buf, dtype=width, count=n + 1,
                            offset=texts.offset * np.dtype(width).itemsize).astype(np.int64)
    base = int(offsets[0])
    offsets -= base
    total = int(offsets[-1])
    if total == 0 or data_buf is None:
        return np.zeros(0, dtype=np.uint8), offsets
    return np.frombuffer(data_buf, dtype=np.uint8, count=total, offset=base), offsets


def byte_bounds(buf: np.ndarray) -> tuple[int, int]:
    """(smallest, largest) byte of a buffer in one pass (Arrow's min_max; numpy's min and max
    are two), (0x20, 0) when empty: whether text is all ASCII (largest < 0x80) and whether it
    holds control bytes (smallest < 0x20), which decide the cheaper kernels."""
    if buf.size == 0:
        return 0x20, 0
    bounds = pc.min_max(pa.array(buf, pa.uint8()))
    return bounds["min"].as_py(), bounds["max"].as_py()


def arrow_word_counts(texts: pa.Array, ascii_only: bool | None = None,
                      controls: bool | None = None) -> np.ndarray:
    """`len(text.split())` for each text of a null-free Arrow string array (float64), without
    making Python strings: `word_counts` for the columnar path.

    Works on the UTF-8 bytes in place: a word starts at a non-space byte that follows a space
    byte or starts its text. Multi-byte characters are never ASCII spaces, so this is exact
    except for texts holding one of the few non-ASCII Unicode spaces; those texts (found by
    their UTF-8 lead bytes) are counted with `str.split`, the definition. `ascii_only` (every
    byte below 0x80) and `controls` (some byte below 0x20) may say what the caller already
    knows about the bytes (`byte_bounds`); `controls` may be True when unsure.
    """
    n = len(texts)
    counts = np.zeros(n, dtype=np.float64)
    if n == 0:
        return counts
    if texts.null_count:
        raise ValueError("arrow_word_counts needs a text array without nulls")
    buf, offsets = text_bytes(texts)
    total = buf.size
    if total == 0:
        return counts
    space = np.less_equal(buf, 32, out=_SCRATCH.get("space", total))
    if controls is None or ascii_only is None:
        low, high = byte_bounds(buf)
        controls, ascii_only = low < 32, high < 0x80
    if controls:  # control bytes: only \t-\r and \x1c-\x1f are spaces
        at = np.flatnonzero(np.less(buf, 32, out=_SCRATCH.get("tmp", total)))
        vals = buf[at]
        space[at[(vals < 9) | ((vals > 13) & (vals < 28))]] = False
    counts[:] = np.diff(_word_starts_before(space, offsets))
    if not ascii_only:
        for i in _rows_with_unicode_space(buf, offsets):
            counts[i] = len(texts[int(i)].as_py().split())
    return counts


#: _LOW_BITS[k] keeps the lowest k bits of a 64-bit word.
_LOW_BITS = np.array([(1 << k) - 1 for k in range(64)], dtype=np.uint64)


def _word_starts_before(space: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """For each offset, how many word starts come before it: a word starts at a non-space byte
    that follows a space byte or starts its text (`space` flags the bytes; `offsets` run from 0
    to `space.size`). Differences give each text's word count, without a per-text loop.

    The flags are packed to bits (bit i of 64-bit word i // 64 is byte i), so the shifts, the
    popcounts and the prefix sums run over an eighth of a byte array's words.
    """
    total = space.size
    n_words = total // 64 + 2  # whole words, and one past the end for offsets[-1]
    packed = np.zeros(n_words * 8, dtype=np.uint8)
    packed[:(total + 7) // 8] = np.packbits(space, bitorder="little")
    spaces = packed.view("<u8")
    after_space = spaces << np.uint64(1)  # bit i: byte i - 1 is a space
    after_space[1:] |= spaces[:-1] >> np.uint64(63)
    after_space[0] |= np.uint64(1)
    starts = ~spaces & after_space  # bits past the end are never inside a text
    # a text's first byte starts a word when it is not a space, whatever ends the text before
    firsts = offsets[:-1][offsets[:-1] < offsets[1:]]
    firsts = firsts[~space[firsts]]
    np.bitwise_or.at(starts, firsts >> 6, np.uint64(1) << (firsts & 63).astype(np.uint64))
    # word starts in the whole 64-bit words before each offset's word: summed per gap between
    # consecutive offsets (`reduceat`) and accumulated over the texts, not over every word
    word = offsets >> 6
    counts = np.bitwise_count(starts)
    between = np.add.reduceat(counts, word, dtype=np.int64)[:-1]
    between[word[:-1] >= word[1:]] = 0  # same word: reduceat gives that word's count
    before = np.empty(len(word), dtype=np.int64)
    before[0] = counts[:word[0]].sum(dtype=np.int64)
    np.cumsum(between, out=before[1:])
    before[1:] += before[0]
    return before + np.bitwise_count(starts[word] & _LOW_BITS[offsets & 63])


def _rows_with_unicode_space(buf: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Rows whose UTF-8 bytes hold a non-ASCII character that `str.split` splits on."""
    high = np.flatnonzero(np.greater_equal(buf, 0xC2, out=_SCRATCH.get("tmp", buf.size)))
    if not high.size:
        return high
    lead = buf[high]
    cand = high[np.isin(lead, _UNICODE_SPACE_LEADS)]
    if not cand.size:
        return cand
    padded = np.concatenate([buf[cand[0]:], np.zeros(2, np.uint8)])
    rel = cand - cand[0]
    b0, b1, b2 = padded[rel], padded[rel + 1], padded[rel + 2]
    hit = (
        ((b0 == 0xC2) & ((b1 == 0x85) | (b1 == 0xA0)))
        | ((b0 == 0xE1) & (b1 == 0x9A) & (b2 == 0x80))
        | ((b0 == 0xE2) & (b1 == 0x80) & ((b2 <= 0x8A) | (b2 == 0xA8) | (b2 == 0xA9)
                                          | (b2 == 0xAF)))
        | ((b0 == 0xE2) & (b1 == 0x81) & (b2 == 0x9F))
        | ((b0 == 0xE3) & (b1 == 0x80) & (b2 == 0x80))
    )
    return np.unique(np.searchsorted(offsets, cand[hit], side="right") - 1)
