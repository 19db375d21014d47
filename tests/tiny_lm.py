"""Build tiny randomly initialised Llama-style models with a word-level tokenizer, on disk.

The LM detector tests load these through the real loading code (`detectors.lm_loading`), so
every code path runs in well under a second per model without any download. A word-level
tokenizer round-trips decode -> encode exactly, which the watermark round trip needs.
"""

from __future__ import annotations

from pathlib import Path

WORDS = (
    "the of and to in is was it that for on with as by at this from be are or an not have has "
    "had were but which their one all would there been if more when will who can about out so "
    "what up into than them some could time only new other people like then its may these "
    "over first two after also any most made many such where years way well because very just "
    "through long back much before good know great year old day same life under work world "
    "house story city river water light night word point small place home hand high part "
    "model text machine human writer reader paper data study result method report question "
    "answer news game team player music film book school student teacher state country "
    "government market company money price food health doctor family child mother father "
    ". , ; : ! ? ' \" ( ) -"
).split()

SPECIALS = ["[UNK]", "[PAD]", "[BOS]", "[EOS]"]


def build_tokenizer(words: list[str] | tuple[str, ...] = tuple(WORDS), shift: int = 0):
    """A PreTrainedTokenizerFast over `words` (ids offset by `shift` to make a different vocab)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for w in list(words)[shift:] + list(words)[:shift]:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   bos_token="[BOS]", eos_token="[EOS]")


def build_tiny_lm(folder: Path, seed: int = 0, shift: int = 0) -> Path:
    """Save a 2-layer, 32-wide Llama with random weights (seeded) and its tokenizer to `folder`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = build_tokenizer(shift=shift)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
        initializer_range=0.3, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id, tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder


def sentence(n_words: int, offset: int = 0) -> str:
    """A deterministic in-vocabulary text of `n_words` words."""
    body = [w for w in WORDS if w.isalpha()]
    return " ".join(body[(offset + 7 * i) % len(body)] for i in range(n_words))
