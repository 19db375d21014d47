"""Machine text written by the offline LM from a corpus's own human documents.

Why: a corpus-adapted detector (`detectors.adapted`) needs machine text that looks like the
corpus's topics and formats, and no machine text is shipped with the project. The offline
SmolLM2-135M-Instruct writes it from the store's pre-cutoff documents with the two prompts
of the labeled data's hardest variants:

- `continue`: the document's first `PREFIX_TOKENS` tokens, continued by the model (the result
  is prefix + continuation, as `continuation_of_human_prefix` rows are);
- `rewrite`: the model is asked (chat template) to rewrite the document's opening in its own
  words.

Seeded sampling (top-p 0.9, temperature 0.8), left-padded batches, float32 (one-token steps are
slower in bf16 on CPU, see detectors.lm_loading). CPU cost: tens of tokens a second per batch;
`max_new_tokens` and the number of texts bound it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from detectors.lm_loading import load_causal_lm, require_lm
from detectors.lm_tokens import clean_text

PROMPTS = ("continue", "rewrite")
PREFIX_TOKENS = 32
REWRITE_SOURCE_CHARS = 600
REWRITE_INSTRUCTION = "Rewrite the following text in your own words. Keep its meaning and style."


def generate_from_documents(documents: Sequence[str], n: int, *, max_new_tokens: int = 96,
                            batch_size: int = 8, seed: int = 0, model: str | Path | None = None,
                            progress: Callable[[int, int], None] | None = None
                            ) -> list[tuple[str, str]]:
    """Up to `n` machine texts as (text, origin) with origin "generated:continue" or
    "generated:rewrite" (document i gets prompt i mod 2; documents taken in order, cycled if
    fewer), the continuations first."""
    torch, _ = require_lm()
    docs = [clean_text(d) for d in documents if isinstance(d, str) and d.strip()]
    if n <= 0 or not docs:
        return []
    lm = load_causal_lm(model, dtype="float32")
    tok, net = lm.tokenizer, lm.model
    tok.padding_side = "left"
    torch.manual_seed(seed)
    jobs = [(docs[i % len(docs)], PROMPTS[i % 2]) for i in range(n)]
    # one prompt kind per batch: a short continue prefix left-padded to a long rewrite prompt
    # costs as much as the rewrite (on CPU about half the time is saved)
    batches = [b[k:k + batch_size] for b in ([j for j in jobs if j[1] == kind]
                                             for kind in PROMPTS)
               for k in range(0, len(b), batch_size)]
    out: list[tuple[str, str]] = []
    done = 0
    try:
        for batch in batches:
            prompts, prefixes = [], []
            for doc, kind in batch:
                if kind == "continue":
                    ids = tok(doc, add_special_tokens=False)["input_ids"][:PREFIX_TOKENS]
                    prefix = tok.decode(ids, skip_special_tokens=True)
                    prompts.append(prefix)
                    prefixes.append(prefix)
                else:
                    msg = f"{REWRITE_INSTRUCTION}\n\n{doc[:REWRITE_SOURCE_CHARS]}"
                    prompts.append(tok.apply_chat_template(
                        [{"role": "user", "content": msg}], tokenize=False,
                        add_generation_prompt=True))
                    prefixes.append("")
            enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.inference_mode():
                gen = net.generate(**enc.to(lm.device), max_new_tokens=max_new_tokens,
                                   do_sample=True, top_p=0.9, temperature=0.8,
                                   pad_token_id=tok.pad_token_id)
            new = gen[:, enc["input_ids"].shape[1]:]
            for (_, kind), prefix, ids in zip(batch, prefixes, new, strict=True):
                text = tok.decode(ids, skip_special_tokens=True).strip()
                if kind == "continue":
                    text = f"{prefix} {text}".strip() if text else ""
                if text:
                    out.append((text, f"generated:{kind}"))
            done += len(batch)
            if progress is not None:
                progress(done, n)
    finally:
        lm.close()
    return out
