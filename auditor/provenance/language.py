"""The language of a document, from its metadata or, where it has none, identified offline.

Detectors are trained on some languages and declare them (`Detector.languages`); a document
outside them is left unscored rather than silently mixed in, which needs every document's
language. py3langid ships its model inside the wheel (`py3langid/data/model.npz.xz`, read with
numpy and `allow_pickle=False`): nothing is downloaded at run time.

Only the first `SAMPLE_CHARS` characters are read (measured: 45 us a document at 300 characters
against 100 us at 1,000), and texts with too few letters get no language (None) rather than
a guess.

Even 45 us a document is most of a provenance-only scan (which otherwise runs at ~5 us a
document), so batches take a fast path first: a text whose sample holds at least
`ENGLISH_MIN_WORDS` common English function words, "the" among them, is English, found by
Arrow's vectorised regex kernels (about 0.5 us a document: one regex that stops at the eighth
word, byte kernels when a batch is ASCII); only the rest go to py3langid.
Measured on 20,000 rows of the labeled development set: 88% took the fast path, and py3langid
disagreed on 5 of those 17,651 (all mixed-language texts).

The rest of a batch goes to py3langid all at once (`identify_languages`, and
`fill_language_array`, the scan's call): letters counted with a lookup table, py3langid's
classifier vectorised over the texts (`language_model.BatchClassifier`), with exactly
py3langid's result text for text (near ties, where float32 sums in another order could differ,
are left to py3langid itself). `scripts/bench_language.py` measures it (reports/language_bench.md):
about 9 times cheaper a document than one `classify` a text on real non-English and crawl text
(6 times where numba is missing).
`identify_language` (one text) stays py3langid's own call, the reference the batch is tested
against.
"""

from __future__ import annotations

import os
import re
import threading

SAMPLE_CHARS = 300
MIN_LETTERS = 20  # fewer letters than this: no language (identification is a guess)
_LETTER = re.compile(r"[^\W\d_]")
#: Common English function words; `ENGLISH_MIN_WORDS` of them in a sample, "the" among them,
#: settle the language without the identifier.
_ENGLISH_WORDS = (r"\b(the|and|of|to|is|in|that|with|for|this|are|was|it|on|as|be|by|have|"
                  r"from|not)\b")
ENGLISH_MIN_WORDS = 8
_ENGLISH_RE = re.compile(_ENGLISH_WORDS, re.ASCII)


_LOADING = threading.RLock()  # re-entered: `_loaded` loads the letters (`_letters`) under it
_LOADED: list = []  # (the identifier, its batch classifier, the letter table), once loaded


def _identifier():
    """py3langid's identifier, loaded once per process (about 0.45 s from the LZMA-compressed
    model the first time on a machine, about 0.08 s from the cached arrays after:
    `language_model.load_identifier`), whichever thread asks first."""
    return _loaded()[0]


def _loaded():
    """(the identifier, its `BatchClassifier`, the letter table), loaded once per process."""
    if not _LOADED:
        with _LOADING:
            if not _LOADED:
                from auditor.provenance.language_model import BatchClassifier, load_identifier

                identifier = load_identifier()
                # "auto": readies its batch path once enough texts need it
                # (`language_model.WARM_AFTER_TEXTS`, `COMPILE_AFTER_TEXTS`), not here
                _LOADED.append((identifier, BatchClassifier.of(identifier), _letters()))
    return _LOADED[0]


_LETTERS: list = []  # the letter table, once loaded (without the model: see `_letters`)


def _letters():
    """The letter table (`_letter_table`), loaded once per process. Apart from the model: a
    batch whose texts all have too few letters to identify needs no model (~80 MB of arrays
    while they load), as py3langid's one-text path never loaded it for them."""
    if not _LETTERS:
        with _LOADING:
            if not _LETTERS:
                _LETTERS.append(_letter_table())
    return _LETTERS[0]


def _letter_table():
    """Per code point, whether `_LETTER` matches it: the letter rule as a lookup table, so a
    batch counts letters with numpy instead of a regex per text. Built from the regex itself
    (0.15 to 0.26 s), cached like the model's arrays (keyed by the Python and Unicode versions that
    decide what the regex calls a letter)."""
    import sys
    import unicodedata

    import numpy as np

    from auditor.provenance.language_model import (
        cache_dir,
        read_cached_arrays,
        write_cached_arrays,
    )

    path = cache_dir() / (f"letters-py{sys.version_info[0]}.{sys.version_info[1]}-"
                          f"unicode{unicodedata.unidata_version}.npz")
    cached = read_cached_arrays(path, ("letters",))
    if cached is not None and cached["letters"].shape == ((sys.maxunicode + 1) // 8,):
        return np.unpackbits(cached["letters"]).view(bool)
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    table = np.zeros(sys.maxunicode + 1, bool)
    table[[m.start() for m in _LETTER.finditer(every)]] = True
    write_cached_arrays(path, {"letters": np.packbits(table)})
    return table


def _before_fork() -> None:
    """Wait for a load in progress (it holds `_LOADING`) before forking: its imports (scipy,
    numba, py3langid) hold module locks that a child would inherit held by a thread it does
    not have, and hang on (a fork-based pool or data loader started while a scan preloads)."""
    _LOADING.acquire()


def _after_fork_in_parent() -> None:
    _LOADING.release()


def _after_fork_in_child() -> None:
    """A forked child has no loading thread: a fresh lock (the parent's is held, by
    `_before_fork`)."""
    global _LOADING
    _LOADING = threading.RLock()


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                    after_in_child=_after_fork_in_child)


def preload_identifier() -> None:
    """Start loading the identifier in a background thread, for a caller about to read many
    documents (a scan): most corpora hold some text the English fast path leaves to it, and
    the load (imports, the cached arrays or the model's decompression, compiling the batch
    kernel: mostly without the GIL) then overlaps the caller's own start-up instead of
    stalling its first batch. A no-op once loaded. A fork meanwhile waits for the load
    (`_before_fork`)."""
    if not _LOADED:
        threading.Thread(target=_loaded, name="auditor-langid-load", daemon=True).start()


def identify_language(text: str | None) -> str | None:
    """ISO 639-1 code of the text's language, or None when it has too few letters."""
    if not text:
        return None
    sample = text[:SAMPLE_CHARS]
    if _is_clearly_english(sample.lower()):
        return "en"
    if len(_LETTER.findall(sample)) < MIN_LETTERS:
        return None
    return _identifier().classify(sample)[0]


def identify_languages(texts) -> list[str | None]:
    """`identify_language` of each text (a sequence of strings or None, or an Arrow string
    array), computed for the batch at once: the same fast path and letter rule, and py3langid's
    classifier run over all the texts together (`language_model.BatchClassifier`, about
    8 times cheaper a document than one call a text)."""
    import pyarrow as pa

    if isinstance(texts, (pa.Array, pa.ChunkedArray)):
        if isinstance(texts, pa.ChunkedArray):
            texts = texts.combine_chunks()
        texts = texts.cast(pa.string())
        english = clearly_english(texts).to_pylist()
        samples = _samples(texts)
    else:
        samples = [t[:SAMPLE_CHARS] if t else None for t in texts]
        english = [bool(s) and _is_clearly_english(s.lower()) for s in samples]
    found: list[str | None] = ["en" if e else None for e in english]
    rest = [i for i, (e, s) in enumerate(zip(english, samples, strict=True)) if s and not e]
    for i, language in zip(rest, _identify_samples([samples[i] for i in rest]), strict=True):
        found[i] = language
    return found


def _samples(texts) -> list[str | None]:
    """Each text's first `SAMPLE_CHARS` characters, as Python strings (an Arrow array)."""
    import pyarrow.compute as pc

    return pc.utf8_slice_codeunits(texts, 0, SAMPLE_CHARS).to_pylist()


def _identify_samples(samples: list[str]) -> list[str | None]:
    """The language of samples the English fast path did not settle: None below
    `MIN_LETTERS` letters, else py3langid's label, from the batch classifier where it is
    sure, from py3langid itself on the rare near tie and where the batch is not worth it
    (a handful of texts, or while the batch path is still being readied)."""
    import numpy as np

    if not samples:
        return []
    samples = [s or "" for s in samples]
    letters = _letters()
    counted = np.concatenate([_count_letters(samples[i:i + 2048], letters)
                              for i in range(0, len(samples), 2048)])
    enough = np.flatnonzero(counted >= MIN_LETTERS).tolist()
    found: list[str | None] = [None] * len(samples)
    if not enough:
        return found  # nothing to identify: the model is not loaded
    identifier, batch, _ = _loaded()
    if not batch.worth_batching(len(enough)):
        labels = [None] * len(enough)
    else:
        encode = identifier._encode  # py3langid's own: upper case lowered, NFC, UTF-8
        labels = batch.classify([encode(samples[i]) for i in enough])
    for i, label in zip(enough, labels, strict=True):
        found[i] = label if label is not None else identifier.classify(samples[i])[0]
    return found


def _count_letters(samples: list[str], letters):
    """Letters (`_LETTER`) in each sample, by the code-point table: the samples' code points
    as one array, a lookup, a sum per sample."""
    import numpy as np

    points = np.frombuffer("".join(samples).encode("utf-32-le", "surrogatepass"), np.uint32)
    lengths = np.fromiter(map(len, samples), np.int64, len(samples))
    counted = np.zeros(len(samples), np.int64)
    present = lengths > 0  # reduceat needs increasing starts: empty samples stay 0
    if present.any():
        starts = (np.cumsum(lengths) - lengths)[present]
        counted[present] = np.add.reduceat(letters[points], starts, dtype=np.int64)
    return counted


def _is_clearly_english(lowered_sample: str) -> bool:
    """The fast path of one text, the same rule as `clearly_english` (ASCII word boundaries,
    as Arrow's RE2 kernels use)."""
    words = _ENGLISH_RE.findall(lowered_sample)
    return len(words) >= ENGLISH_MIN_WORDS and "the" in words


def fill_language_array(metadata_values, texts, ascii_only: bool | None = None,
                        samples=None, english=None):
    """The language each document is stored with, over Arrow arrays: its metadata value where
    present (it may say more than a guess from the text; the caller has already mapped it to a
    stored code), else the identified one. `metadata_values` (None: no language column) and
    `texts` are pyarrow string arrays of one batch; identifies only where metadata is null.
    `ascii_only` may say what the caller knows: every text is ASCII (cheaper byte kernels);
    `samples` may be each text's first `SAMPLE_CHARS` characters, and `english` the fast path
    (`clearly_english`) of each text, if the caller has them."""
    import pyarrow as pa

    if metadata_values is None:
        metadata_values = pa.nulls(len(texts), pa.string())
    if metadata_values.null_count == 0:
        return metadata_values
    import numpy as np
    import pyarrow.compute as pc

    filled = pc.if_else(pc.and_(pc.is_null(metadata_values),
                                english if english is not None
                                else clearly_english(texts, ascii_only, samples)),
                        pa.scalar("en", pa.string()), metadata_values)
    rest = pc.is_null(filled)
    rows = np.flatnonzero(rest.to_numpy(zero_copy_only=False))
    if rows.size == 0:
        return filled
    # not clearly English and no metadata: the identifier, once for all these texts
    take = pa.array(rows)
    found = pa.array(_identify_samples(
        samples.take(take).to_pylist() if samples is not None else _samples(texts.take(take))),
        pa.string())
    return pc.replace_with_mask(filled, rest, found)


#: "At least `ENGLISH_MIN_WORDS` function words" as one regex that a match can stop early on
#: (RE2's automaton, no per-match work): counting every match cost 2.7 us a document, this
#: 0.4 us. The words are whole ASCII words, so matches never overlap and the two agree.
_ENOUGH_ENGLISH = ("(?s)" + _ENGLISH_WORDS + "(?:.*" + _ENGLISH_WORDS + ")"
                   + "{" + str(ENGLISH_MIN_WORDS - 1) + "}")


def clearly_english(texts, ascii_only: bool | None = None, samples=None):
    """Per text of an Arrow string array (a boolean array): its sample holds enough English
    function words, "the" among them. `samples`: the texts' samples, if the caller has them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if ascii_only is None:
        ascii_only = pc.all(pc.string_is_ascii(texts)).as_py() is not False
    if ascii_only:  # bytes are characters: byte kernels, same result, several times cheaper
        sample = (samples if samples is not None else
                  pc.binary_slice(texts.view(pa.binary()), 0, SAMPLE_CHARS).view(pa.string()))
        # ASCII case folding in the automaton instead of a lower-cased copy: the same matches
        # on ASCII text (the non-ASCII letters that fold to ASCII ones cannot occur)
        ok = pc.and_(pc.match_substring_regex(sample, r"\bthe\b", ignore_case=True),
                     pc.match_substring_regex(sample, _ENOUGH_ENGLISH, ignore_case=True))
    else:
        sample = pc.utf8_lower(samples if samples is not None else
                               pc.utf8_slice_codeunits(texts, 0, SAMPLE_CHARS))
        ok = pc.and_(pc.match_substring_regex(sample, r"\bthe\b"),
                     pc.match_substring_regex(sample, _ENOUGH_ENGLISH))
    return pc.fill_null(ok, False)
