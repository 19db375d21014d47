"""py3langid's model: loaded cheaply after the first time, and run over many texts at once.

py3langid classifies one text at a time in Python: a walk over the text's bytes through a
tokenising automaton (one Python step a byte), a `Counter` of the features it emits, and a
naive Bayes product `log1p(counts) @ nb_ptc[features] + nb_pc` in float32. That is about
170 us a document on real text, most of a provenance-only scan wherever the English fast path
does not settle the language. `BatchClassifier` runs the same algorithm on the identifier's
own arrays for a whole batch, and the scores are one sparse product (scipy). The walk is
either compiled (numba, `_walk_count`: 16 documents interleaved, so that their reads from the
39 MB automaton overlap) or numpy (every document's bytes in lockstep, one numpy step per byte
position, pairs counted with one sort). Measured in reports/language_bench.md: 9 times
cheaper a document than py3langid with the compiled walk, 6 times with numpy.

Its float32 sums run in another order than py3langid's (BLAS), so a near tie could come out
the other way. Every score carries a bound on that difference (both sums are within
gamma_k * sum|x * p| of the exact one, for k features: the classic dot-product bound, and
sum|x * p| is |the score| since log-probabilities are negative and counts positive); a
document whose best label does not beat every other by more than the bounds gets None, and the
caller asks py3langid for it (about 1 text in 5,000). The result is then py3langid's, exactly.

Start-up. Loading the model costs ~0.45 s of CPU per process (LZMA decompression of
`model.npz.xz`), which on a busy machine stalls the first batch that needs it. The
decompressed arrays are cached in the user's cache folder (`$XDG_CACHE_HOME/provenance-auditor`,
else `~/.cache/provenance-auditor`) as a plain `.npz`, keyed by py3langid's version and the
model file's size and modification time, written atomically, read with `allow_pickle=False`
(about 0.08 s); a cache that cannot be read is rebuilt, a folder that cannot be written is
skipped. scipy's import (the numpy walk's product) and numba's import and the kernel's compile
(or numba's cache of it) happen in a background thread, each once a process has sent enough
texts to identification to pay for it (`WARM_AFTER_TEXTS`, `COMPILE_AFTER_TEXTS`; both at once
by `BatchClassifier.warm`); until they are there, texts go one at a time, then through the
numpy walk, so no batch waits on them, and a scan that leaves the identifier few texts never
pays for them.
"""

from __future__ import annotations

import os
import tempfile
import threading
import zipfile
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auditor.jit import compiled

CACHE_FOLDER = "provenance-auditor"
#: float32's unit roundoff: one rounding moves a value by at most this share of it.
_UNIT_ROUNDOFF = 2.0 ** -24
#: Margin on the bound (it is already a worst case; this covers log1p's last bit and the
#: final addition of the prior in both paths).
_BOUND_SAFETY = 2.0
#: Bytes of text classified per group: bounds a group's arrays (a few numbers a byte, the
#: model rows its features use, the documents x classes scores). Measured on 10,000 labeled
#: texts (2.9 MB): 4 MB groups peak at 85 MiB, 1 MB at 42 MiB, for 3 to 8% more time.
_GROUP_BYTES = 1 << 20
#: Fewer texts than this to classify: py3langid one at a time is cheaper. The numpy walk
#: costs a few numpy calls per byte position however few the texts (measured on real Chinese
#: and Spanish samples: 2 ms for one text against 0.4 ms one at a time, even at 16 to 32
#: texts); the compiled walk has no such cost (0.2 to 0.3 ms for one text, already level).
MIN_TEXTS_NUMPY = 24
MIN_TEXTS_NUMBA = 2
_MODEL_KEYS = ("ptc", "pc", "classes", "nextmove", "nextmove_row", "out_feat")


def cache_dir() -> Path:
    """Where cached model arrays live: the XDG cache folder, as most tools use."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # unset, empty or relative: the spec says use the default
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / CACHE_FOLDER


def _model_path() -> Path:
    from py3langid.langid import MODEL_DIR, MODEL_FILE

    return Path(MODEL_DIR) / MODEL_FILE


def _cache_path(model: Path) -> Path:
    from importlib.metadata import version

    st = model.stat()
    return cache_dir() / f"py3langid-{version('py3langid')}-{st.st_size}-{st.st_mtime_ns}.npz"


def read_cached_arrays(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """The arrays of a cache file, or None if it is missing or unreadable (truncated, corrupt:
    the zip's CRC catches a changed byte, a missing key a foreign file)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in keys}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def write_cached_arrays(path: Path, arrays: dict[str, np.ndarray]) -> bool:
    """Write a cache file atomically (a temporary file beside it, fsync, rename), so a reader
    never sees half a file; False, silently, where the folder cannot be written."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return True
    except OSError:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        return False


def load_identifier():
    """py3langid's `LanguageIdentifier` for its bundled model, from the cache when it holds
    the model (about 0.05 s instead of 0.45 s), else from the model file, then cached."""
    from py3langid.langid import LanguageIdentifier
    from py3langid.modelio import load_model

    model = _model_path()
    cached = _cache_path(model)
    data = read_cached_arrays(cached, _MODEL_KEYS)
    if data is None:
        ptc, pc, classes, nextmove, row, output = load_model(model)
        write_cached_arrays(cached, {
            "ptc": np.asarray(ptc), "pc": np.asarray(pc), "classes": np.array(classes),
            "nextmove": np.frombuffer(nextmove, _dtype(nextmove)),
            "nextmove_row": np.frombuffer(row, _dtype(row)),
            "out_feat": np.asarray(output, np.int32)})
    else:  # as py3langid's `load_model` builds them from the same arrays
        ptc, pc, classes = data["ptc"], data["pc"], data["classes"].tolist()
        nextmove, row = _stdlib_array(data["nextmove"]), _stdlib_array(data["nextmove_row"])
        output = data["out_feat"].tolist()
    return LanguageIdentifier(np.asarray(ptc), np.asarray(pc), classes, nextmove, output,
                              tk_row=row)


def _all_negative(values: np.ndarray) -> bool:
    """values < 0 everywhere; on float16 through the bits (sign set, not -0, not NaN), three
    times cheaper than comparing 14 million half floats."""
    if values.dtype == np.float16:
        bits = values.view(np.uint16)
        return bool(((bits > 0x8000) & (bits <= 0xFC00)).all())
    return bool((values < 0).all())


def _dtype(arr: array) -> np.dtype:
    return np.dtype(arr.typecode).newbyteorder("=")


def _stdlib_array(values: np.ndarray) -> array:
    """A numpy unsigned array as the stdlib `array` py3langid walks (`H`, `I` or `L`)."""
    out = array({2: "H", 4: "I", 8: "L"}[values.dtype.itemsize])
    out.frombytes(memoryview(np.ascontiguousarray(values)).cast("B"))
    return out


@dataclass(frozen=True)
class BatchClassifier:
    """py3langid's `classify` over many encoded texts at once, on one identifier's arrays."""

    nextmove: np.ndarray  # automaton: next state = nextmove[rowbase[state] + byte]
    rowbase: np.ndarray  # per state, the offset of its row of 256 transitions
    output: np.ndarray  # per state, the feature it emits, or -1
    ptc: np.ndarray  # per feature, per class: log P(feature | class), float16
    pc: np.ndarray  # per class: log prior, float32
    classes: tuple[str, ...]
    alias_pairs: tuple[tuple[int, int], ...]  # (first, duplicate) columns of one label
    ptc_negative: bool  # every log-probability < 0 (so sum|x * p| is |x @ p|)
    engine: str = "auto"  # the walk: "numba" (compiled), "numpy", "auto" (numba once ready)

    @classmethod
    def of(cls, identifier, engine: str = "auto") -> BatchClassifier:
        """The identifier's own arrays, viewed (the automaton) or referenced, not copied."""
        if engine not in ("auto", "numba", "numpy"):
            raise ValueError(f"language: engine must be auto, numba or numpy, got {engine!r}")
        if engine == "numba" and _numba_kernel() is None:
            raise ImportError("language: engine='numba' needs numba (pip install numba)")
        nextmove = np.frombuffer(identifier.tk_nextmove, _dtype(identifier.tk_nextmove))
        row = np.frombuffer(identifier.tk_row, _dtype(identifier.tk_row))
        return cls(nextmove=nextmove, rowbase=row.astype(np.intp) << 8,
                   output=np.asarray(identifier.tk_output, np.int32),
                   ptc=np.asarray(identifier.nb_ptc), pc=np.asarray(identifier.nb_pc),
                   classes=tuple(identifier.nb_classes),
                   alias_pairs=tuple(tuple(p) for p in identifier._alias_pairs),
                   ptc_negative=_all_negative(np.asarray(identifier.nb_ptc)), engine=engine)

    def worth_batching(self, n: int) -> bool:
        """Whether `n` texts are cheaper here than one at a time through py3langid. "auto"
        says no until its background thread has imported scipy (the product): a batch never
        waits for an import. That thread starts only once the process has asked about
        `WARM_AFTER_TEXTS` texts, and the numba walk's compile once it has asked about
        `COMPILE_AFTER_TEXTS`: an English corpus leaves the identifier a few, and readying
        either would cost it more CPU than it saves."""
        if self.engine == "auto":
            with _STARTING:
                _ASKED[0] += n
                asked = _ASKED[0]
            if asked >= COMPILE_AFTER_TEXTS and not _READY:
                _start_warming(self, "kernel")
            elif asked >= WARM_AFTER_TEXTS and not _PRODUCT_READY:
                _start_warming(self, "product")
            if not _PRODUCT_READY:
                return False
        return n >= (MIN_TEXTS_NUMBA if self._kernel() is not None else MIN_TEXTS_NUMPY)

    def warm(self) -> None:
        """Get the batch path ready without making anyone wait: "auto" imports scipy and
        compiles the numba walk (or loads it from numba's cache) in a background thread,
        while texts go one at a time, then through the numpy walk, until each is there
        (measured: scipy's import 0.15 to 0.2 s of CPU, numba's import and cached kernel
        about 0.5 s; the first batches would otherwise stall on them). "numba" compiles
        now."""
        if self.engine == "numba":
            self._classify_group([b"warm up the kernel"])
        elif self.engine == "auto":
            _start_warming(self, "kernel")

    def _kernel(self):
        """The compiled walk this classifier uses now, or None (the numpy walk)."""
        if self.engine == "numpy":
            return None
        if self.engine == "numba":
            return _numba_kernel()
        return _READY[0] if _READY else None  # readied by `worth_batching` or `warm`

    def classify(self, encoded: list[bytes]) -> list[str | None]:
        """Per text (as py3langid's `_encode` gives it), py3langid's label, or None where the
        float32 sums could decide otherwise (a near tie) or the text has no feature: there
        the caller asks py3langid itself."""
        labels: list[str | None] = [None] * len(encoded)
        start = 0
        while start < len(encoded):  # groups of about _GROUP_BYTES bytes, bounding memory
            stop, size = start, 0
            while stop < len(encoded) and (stop == start or size < _GROUP_BYTES):
                size += len(encoded[stop])
                stop += 1
            labels[start:stop] = self._classify_group(encoded[start:stop])
            start = stop
        return labels

    def _classify_group(self, encoded: list[bytes]) -> list[str | None]:
        n = len(encoded)
        kernel = self._kernel()
        per_doc, feat, counts = (self._features_numba(kernel, encoded) if kernel is not None
                                 else self._features_numpy(encoded))
        scores, bound = self._scores(feat, counts, per_doc, n)
        for i, j in self.alias_pairs:  # as py3langid's `_decide`: one score per label
            scores[:, i] = np.maximum(scores[:, i], scores[:, j])
            bound[:, i] = np.maximum(bound[:, i], bound[:, j])
            scores[:, j] = -np.inf
            bound[:, j] = 0.0
        best = scores.argmax(axis=1)
        rows = np.arange(n)
        low = scores[rows, best] - bound[rows, best]
        high = scores + bound
        high[rows, best] = -np.inf
        sure = (low > high.max(axis=1)) & (per_doc > 0)
        return [self.classes[b] if s else None for b, s in zip(best.tolist(), sure.tolist(),
                                                               strict=True)]

    def _features_numpy(self, encoded: list[bytes]):
        """(distinct features per document, each one's feature id and count), documents in
        order: the lockstep walk's (document, feature) pairs counted with one sort."""
        docs, feats = self._walk(encoded)
        n_feats = self.ptc.shape[0]
        keys = docs.astype(np.int64) * n_feats + feats
        keys.sort()
        first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if keys.size else keys
        counts = np.diff(np.r_[first, keys.size]).astype(np.float32)
        keys = keys[first]
        per_doc = np.bincount(keys // n_feats, minlength=len(encoded))
        return per_doc, keys % n_feats, counts

    def _features_numba(self, kernel, encoded: list[bytes]):
        """As `_features_numpy`, from one compiled pass over the bytes (`_walk_count`)."""
        data = np.frombuffer(b"".join(encoded), np.uint8)
        lens = np.fromiter(map(len, encoded), np.int64, len(encoded))
        feat = np.empty(data.size, np.int32)  # a document has at most one feature a byte
        counts = np.empty(data.size, np.float32)
        indptr = np.zeros(len(encoded) + 1, np.int64)
        kernel(data, np.cumsum(lens), np.argsort(lens, kind="stable"), self.nextmove,
               self.rowbase, self.output, np.empty(data.size, np.int32),
               np.zeros(self.ptc.shape[0], np.int32), feat, counts, indptr)
        return np.diff(indptr), feat[:indptr[-1]], counts[:indptr[-1]]

    def _walk(self, encoded: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """(document, feature) for every feature the automaton emits, all documents walked
        together: documents sorted longest first, so the ones still walking at byte position
        j are a prefix, and each position is a few numpy gathers over that prefix. Bytes and
        features are laid out position by position (`start[j]`: where position j begins), so
        nothing is padded."""
        n = len(encoded)
        lens = np.fromiter(map(len, encoded), np.int64, n)
        order = np.argsort(-lens, kind="stable")
        lens_sorted = lens[order]
        width = int(lens_sorted[0]) if n else 0
        # walking[j]: documents longer than j, the prefix still walking at position j
        walking = np.searchsorted(-lens_sorted, -np.arange(width), side="left")
        start = np.r_[0, np.cumsum(walking)]
        total = int(start[-1])
        doc_order = order.tolist()
        flat = np.frombuffer(b"".join([encoded[i] for i in doc_order]), np.uint8)
        rank = np.repeat(np.arange(n), lens_sorted)  # each byte's document, by rank
        position = np.arange(total) - np.repeat(np.cumsum(lens_sorted) - lens_sorted,
                                                lens_sorted)
        text = np.empty(total, np.uint8)
        text[start[position] + rank] = flat
        found = np.empty(total, np.int32)
        at = np.full(n, self.rowbase[0], np.intp)
        cell = np.empty(n, np.intp)
        state = np.empty(n, self.nextmove.dtype)
        for j, k in enumerate(walking.tolist()):
            s = start[j]
            np.add(at[:k], text[s:s + k], out=cell[:k])
            self.nextmove.take(cell[:k], out=state[:k])
            self.rowbase.take(state[:k], out=at[:k])
            self.output.take(state[:k], out=found[s:s + k])
        hit = np.flatnonzero(found >= 0)
        ranks = hit - np.repeat(start[:-1], walking)[hit]
        return order[ranks], found[hit].astype(np.int64)

    def _scores(self, feat, counts, per_doc, n):
        """Naive Bayes scores (documents x classes, float32 as py3langid's), and per score a
        bound on how far py3langid's own float32 sums can be from them."""
        from scipy.sparse import csr_matrix

        if feat.size * 8 < self.ptc.shape[0]:  # few: a sort is cheaper than a full map
            used, local = np.unique(feat, return_inverse=True)
        else:
            present = np.zeros(self.ptc.shape[0], bool)
            present[feat] = True
            used = np.flatnonzero(present)
            local = np.cumsum(present, dtype=np.int64)[feat] - 1
        indptr = np.r_[0, np.cumsum(per_doc)]
        x = csr_matrix((np.log1p(counts), local, indptr), shape=(n, used.size))
        table = np.take(self.ptc, used, axis=0).astype(np.float32)
        dot = x @ table
        # both sums are within gamma_k * sum|x * p| of the exact one; x > 0 and, in
        # py3langid's model, p < 0, so that sum is |dot| (else one more product). Adding the
        # prior rounds once more, by at most u * |score| <= u * (|dot| + |prior|).
        magnitude = np.abs(dot) if self.ptc_negative else x @ np.abs(table)
        k = per_doc.astype(np.float64) + 2
        gamma = k * _UNIT_ROUNDOFF / (1 - k * _UNIT_ROUNDOFF)
        scale = (_BOUND_SAFETY * 2 * (gamma + _UNIT_ROUNDOFF)).astype(np.float32)
        bound = magnitude
        bound *= scale[:, None]
        bound += np.float32(_BOUND_SAFETY * 2 * _UNIT_ROUNDOFF) * np.abs(self.pc)
        dot += self.pc  # the scores, as py3langid adds the prior
        return dot, bound


#: Texts a process sends to identification before "auto" imports scipy in the background,
#: the numpy walk's product (its CPU: reports/language_bench.md, the scipy-only row). Below
#: it, one text at a time costs less: ~200 us saved a text (240 -> 34 us, the same report)
#: pays that back after ~1,000 texts. A scan of an English corpus may never get there (1M documents of the scan
#: benchmark: ~2,000).
WARM_AFTER_TEXTS = 2_000
#: Texts before "auto" also readies the compiled walk. reports/language_bench.md
#: (scripts/bench_language.py) measures both sides: numba's import and the kernel from its
#: cache cost 0.6-0.8 s of CPU, and the compiled walk saves 6-11 us a text over the numpy walk,
#: so it pays back after some 50,000-135,000 texts, by the report's own line. Starting it
#: once the numpy walk has cost about as much more (ski rental) stays within about twice the
#: best choice made knowing the corpus; compiled at `WARM_AFTER_TEXTS`, a scan that leaves
#: the identifier some thousands of texts (the labeled set's 12,000) never paid it back.
COMPILE_AFTER_TEXTS = 65_000
_ASKED = [0]  # texts `worth_batching` was asked about, in "auto"
_READY: list = []  # the kernel, once compiled and run (for engine "auto")
_PRODUCT_READY: list = []  # scipy.sparse imported (for engine "auto")
_WARMING = threading.Lock()  # held while a thread imports numba and compiles
_STARTING = threading.Lock()
_WARM_STARTED: set[str] = set()  # "product", "kernel": the stages started in this process
#: Documents walked together by the compiled kernel (see `_walk_count`).
_LANES = 16


def _numba_kernel():
    """`_walk_count` compiled (`auditor.jit.compiled`), or None without numba."""
    return compiled(_walk_count)


def _start_warming(batch: BatchClassifier, stage: str) -> None:
    """Once per process and stage: a thread that imports scipy (then "auto" batches, with the
    numpy walk) and, for the "kernel" stage, compiles the kernel on `batch`'s arrays (so their
    types) and publishes it in `_READY` (then "auto" walks with it)."""
    with _STARTING:
        if stage in _WARM_STARTED:
            return
        _WARM_STARTED.add(stage)
    threading.Thread(target=_warm, args=(batch, stage == "kernel"),
                     name="auditor-langid-kernel", daemon=True).start()


def _warm(batch: BatchClassifier, compile_kernel: bool) -> None:
    with _WARMING:
        import scipy.sparse  # noqa: F401

        if not _PRODUCT_READY:
            _PRODUCT_READY.append(True)
        kernel = _numba_kernel() if compile_kernel and not _READY else None
        if kernel is not None:
            batch._features_numba(kernel, [b"warm up the kernel"])
            _READY.append(kernel)


def _before_fork() -> None:
    """Wait for a compile in progress: its imports hold module locks that a forked child
    would inherit held by a thread it does not have (see `language._before_fork`)."""
    _WARMING.acquire()


def _after_fork_in_parent() -> None:
    _WARMING.release()


def _after_fork_in_child() -> None:
    global _WARMING, _STARTING
    _WARMING, _STARTING = threading.Lock(), threading.Lock()
    # forked before a stage's thread got going: the child may start its own
    if not _PRODUCT_READY:
        _WARM_STARTED.discard("product")
    if not _READY:
        _WARM_STARTED.discard("kernel")


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                    after_in_child=_after_fork_in_child)


def _walk_count(data, ends, order, nextmove, rowbase, output, raw, scratch, feat, counts,
                indptr):  # pragma: no cover - compiled by numba
    """py3langid's `visit_counts` for each document `data[ends[d-1]:ends[d]]`, written out as
    CSR rows `indptr[d]:indptr[d + 1]`: the document's distinct features (`feat`, first seen
    first) and their counts.

    The walk is a chain of dependent reads from a 39 MB table (each state decides the next
    read), so one document at a time waits on memory at every byte (measured: 47 ns a byte).
    Documents of similar length (`order`: by length) are walked `_LANES` at a time, a byte
    of each per round: their chains are independent, and the processor overlaps their reads.
    Features go to `raw` (one slot a byte, -1: none), then are counted document by document
    in `scratch` (zero between documents)."""
    n = ends.size
    lanes = np.empty(_LANES, np.int64)
    at = np.empty(_LANES, np.int64)
    for g0 in range(0, n, _LANES):
        width = min(_LANES, n - g0)
        longest = 0
        for g in range(width):
            d = order[g0 + g]
            lanes[g] = d
            at[g] = rowbase[0]
            length = ends[d] - (ends[d - 1] if d > 0 else 0)
            longest = max(longest, length)
        for i in range(longest):
            for g in range(width):
                d = lanes[g]
                p = (ends[d - 1] if d > 0 else 0) + i
                if p < ends[d]:
                    state = nextmove[at[g] + data[p]]
                    at[g] = rowbase[state]
                    raw[p] = output[state]
    out = 0
    start = 0
    for d in range(n):
        first = out
        for i in range(start, ends[d]):
            f = raw[i]
            if f >= 0:
                if scratch[f] == 0:
                    feat[out] = f
                    out += 1
                scratch[f] += 1
        for t in range(first, out):
            counts[t] = scratch[feat[t]]
            scratch[feat[t]] = 0
        indptr[d + 1] = out
        start = ends[d]
