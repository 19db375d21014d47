"""Benchmark contamination: which evaluation items leaked into the corpus, where, and when.

Modules, in the order data flows: `items` (benchmark files -> item rows), `tokens` (normalised
words and n-gram hashes), `index` (sorted n-gram hash index, .npy files), `match` (items found
in a batch of texts), `benchmarks` (the store's benchmark table and index folder), `results`
(per benchmark / source / crawl month from the scanned store), `gate` (`auditor check`).
Importing this package imports none of them.
"""

#: Forms a leaked item takes in a document, strongest first (defined in `match`).
FORMS = ("exact", "partial", "question_only")
