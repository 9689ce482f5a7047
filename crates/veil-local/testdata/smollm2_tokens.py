"""Reference token ids for SmolLM2's tokenizer, from an independent implementation.

Rebuilds the tokenizer from the GGUF file's own metadata (vocabulary and merges) with
Hugging Face `tokenizers`, using SmolLM2's pre-tokenizer (individual digits, then GPT-2
byte-level), and writes the ids of a few texts to smollm2_tokens.json, which
tests/smollm2.rs compares with veil-local's hand-written tokenizer.

    pip install gguf==0.19.0 tokenizers==0.23.3
    python smollm2_tokens.py ../../../.veil/SmolLM2-135M-Instruct.Q4_1.gguf smollm2_tokens.json
"""
import json, sys
from gguf import GGUFReader
from tokenizers import Tokenizer, models, pre_tokenizers, decoders
r = GGUFReader(sys.argv[1])
toks = r.fields['tokenizer.ggml.tokens'].contents()
merges = r.fields['tokenizer.ggml.merges'].contents()
types = r.fields['tokenizer.ggml.token_type'].contents()
vocab = {t: i for i, t in enumerate(toks)}
bpe = models.BPE(vocab=vocab, merges=[tuple(m.split(' ', 1)) for m in merges])
tok = Tokenizer(bpe)
tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
tok.decoder = decoders.ByteLevel()
texts = [
    "Hello, world!",
    "  spaces\n\nand newlines\t 12345 ",
    "Ünïcödé — 東京 🙂",
    "What is the capital of France? Answer in one sentence.",
    "It's a dog's life; they're here, we've gone, I'll see, he'd go, I'm ok.",
    "x\n\ny",
    "a  b   c    d",
    "price: $1,234.56 (approx.)   \n\n\n  end",
    "def f(x):\n    return x**2  # square\n",
    "email john.doe@example.com, phone +1-555-0100, SSN 123-45-6789",
    "   leading spaces and trailing   ",
    "tab\tseparated\tvalues\r\nwindows line",
    "mixed123abc456 and 7 8 9",
    "Ελληνικά, русский, العربية, हिन्दी",
    "''' \"quoted\" ``code`` !!! ??? ...",
    "\n",
    " ",
    "A",
]
out = [{"text": t, "ids": tok.encode(t).ids} for t in texts]
json.dump(out, open(sys.argv[2], 'w'), ensure_ascii=False, indent=0)
