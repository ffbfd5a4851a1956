#!/usr/bin/env python3
"""What Hugging Face `tokenizers` makes of a set of test texts with a GGUF
file's byte-level BPE tokenizer, for tokenizer_reference_test (which builds
the C++ tokenizer from the same GGUF with the project's own reader).

    tokenizer_reference.py MODEL.gguf OUT_DIR

writes OUT_DIR/cases.bin (reference token ids and pre-tokenizer splits),
little-endian:

  cases.bin: b"CVQTOK01",
             u32 n, n x (u8 parse_special, u8 round_trips, u32 size,
                         text bytes, u32 k, k x i32 id)        -- encodings
             u32 n, n x (u32 size, pre-tokenizer name, u32 size, text bytes,
                         u32 k, k x u32 piece end offset)      -- splits

The reference tokenizer is assembled from the same arrays as the C++ one,
the way SmolLM2's tokenizer.json does it: models.BPE(vocab, merges), the
pre-tokenizer Sequence[Digits(individual_digits), ByteLevel(regex)] (for
"smollm"; ByteLevel(regex) alone for "gpt2"), a ByteLevel decoder and the
control / user-defined tokens as special added tokens.
"""

import random
import struct
import sys

import gguf
from tokenizers import AddedToken, Tokenizer, decoders, models
from tokenizers import pre_tokenizers

TOKEN_TYPE_CONTROL = 3
TOKEN_TYPE_USER_DEFINED = 4

# Code points that `tokenizers` 0.23's Digits step (Rust's char::is_numeric,
# Unicode 17) isolates but its ByteLevel regex (Oniguruma, Unicode 16) and the
# C++ table (Unicode 16) do not count as \p{N}: left out of the comparison.
UNICODE_17_NUMBERS = frozenset([*range(0x11DE0, 0x11DEA),
                                *range(0x16FF4, 0x16FF7)])

PARAGRAPHS = [
    "The quick brown fox jumps over the lazy dog. It's a sentence that "
    "contains every letter, and it's been used since the 1880s to test "
    "typewriters. I'm sure you'd agree: they'll keep using it, won't they? "
    "We've seen it a thousand times; I'd say it's overused.",

    "In 2024, the population was 1234567 and grew by 3.14% to 1,272,931. "
    "Prices: $19.99, \u20ac5,00, \u00a3100. Call 555-0123 or visit room 42B "
    "at 10:30am on 2025-01-15. Pi is 3.14159265358979; e is 2.71828. "
    "Version v1.2.3-rc4, hex 0xDEADBEEF, 1e-9, -273.15\u00b0C, 6\u00d77=42.",

    "def fibonacci(n):\n    \"\"\"Returns the n-th Fibonacci number.\"\"\"\n"
    "    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n"
    "    return a\n\n\nif __name__ == '__main__':\n"
    "    print(fibonacci(10))  # prints 55\n",

    "#include <stdio.h>\nint main(void) {\n\tint x[3] = {1, 2, 3};\n"
    "\tfor (int i = 0; i < 3; ++i) printf(\"%d\\n\", x[i]);\n"
    "\treturn x[0] != 1 && x[1] >= 2 || x[2] <= 3 ? 0 : -1;\n}\r\n",

    "Multiple   spaces  and\ttabs\t\tand trailing spaces   \n\n\n"
    "Blank lines above.    \n   Leading spaces below\n\n  \n \t \n"
    "End with spaces and newline  \r\n\r\n",

    "Unicode punctuation: \u201cquoted\u201d, \u2018single\u2019, "
    "em\u2014dash, en\u2013dash, ellipsis\u2026 \u00abguillemets\u00bb, "
    "\u00bfQu\u00e9? \u00a1S\u00ed! Caf\u00e9, na\u00efve, "
    "r\u00e9sum\u00e9, \u00c5ngstr\u00f6m, stra\u00dfe, "
    "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac, "
    "\u0440\u0443\u0441\u0441\u043a\u0438\u0439, \u4e2d\u6587, "
    "\u65e5\u672c\u8a9e, \ud55c\uad6d\uc5b4, \u0627\u0644\u0639\u0631\u0628"
    "\u064a\u0629 \u0661\u0662\u0663, \u0939\u093f\u0928\u094d\u0926\u0940 "
    "\u0967\u0968. Emoji: \U0001F600\U0001F44D\U0001F3FD "
    "\U0001F1FA\U0001F1F8 \u2764\ufe0f "
    "\U0001F468\u200d\U0001F469\u200d\U0001F467. "
    "Combining: e\u0301 a\u0308 n\u0303. Fractions \u00bd \u00b2 \u2167.",

    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained "
    "by Hugging Face<|im_end|>\n<|im_start|>user\nWhat's 2+2?<|im_end|>\n"
    "<|im_start|>assistant\n2+2 = 4.<|im_end|>\n<|endoftext|>",

    "Edge cases: '' \"\" 's 't 're 've 'm 'll 'd 'S 'T DON'T I'M "
    "it''s ''s x'y <|im_end <|im_start|<|im_end|>> <<|endoftext|>> "
    "\u00a0nbsp\u00a0 \u3000ideographic\u3000 line\u2028sep para\u2029sep "
    "\u0085nel \u000bvt \u000cff \u001cfs \u0000nul \u007fdel \ufeffbom",
]

WHITESPACE_TEXTS = [
    " " * 1000 + "word", "a" + "\n" * 100 + "b",
    "x" + " \t\n\r\u00a0\u3000" * 20, "trailing   ", "   leading",
    "\r\n" * 30 + "  1  2\t\t3",
]

# Characters whose bytes SmolLM2 has no token for: the references drop them
# (and merge across the gap), so these texts do not round-trip.
LOSSY_TEXTS = ["!\x04!", "a\x04b", "..\x06..", "x\x13\x14\x16\x1dy", "\x04"]

# Building blocks of the random texts: classes the regex distinguishes and
# the boundaries between them.
FRAGMENTS = [
    "a", "b", "Z", "word", " the", "\u00e9", "e\u0301", "\u00df", "\u03a9",
    "\u0436", "\u4e2d", "\u65e5\u672c", "\ud55c", "\u0627", "\u0661", "\u0663",
    "\u00b2", "\u00bd", "\u216b", "0", "1", "9", "42", " ", "  ", "   ",
    "\t", "\n", "\n\n", "\r\n", "\u00a0", "\u3000", "\u2028", "\u0085",
    "\u001c", "'", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'L",
    "\u2019", "!", ".", ",", "?", "-", "_", "(", ")", "{", "}", "<", ">",
    "|", "\"", "#", "$", "\U0001F600", "\U0001F44D\U0001F3FD",
    "\U0001F1FA\U0001F1F8", "\u200d", "\ufeff", "\u0000", "\u007f",
    "\u0120", "\u0143", "<|im_start|>", "<|im_end|>", "<|endoftext|>",
    "<|im_", "|>", "<filename>",
]


def bytes_to_unicode():
    """GPT-2's byte -> character table (the reference's own copy)."""
    printable = (list(range(ord("!"), ord("~") + 1)) +
                 list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100)))
    table, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + extra)
            extra += 1
    return table


def read_vocabulary(path):
    reader = gguf.GGUFReader(path)

    def field(name):
        if name not in reader.fields:
            sys.exit(f"{path} has no {name}")
        return reader.fields[name]

    def strings(name):
        f = field(name)
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]

    def scalar(name, default):
        if name not in reader.fields:
            return default
        f = reader.fields[name]
        return int(f.parts[f.data[0]][0])

    model = bytes(field("tokenizer.ggml.model").parts[-1]).decode()
    if model != "gpt2":
        sys.exit(f"tokenizer.ggml.model is {model!r}: expected 'gpt2'")
    types_field = field("tokenizer.ggml.token_type")
    return {
        "tokens": strings("tokenizer.ggml.tokens"),
        "types": [int(types_field.parts[i][0]) for i in types_field.data],
        "merges": strings("tokenizer.ggml.merges"),
        "bos": scalar("tokenizer.ggml.bos_token_id", -1),
        "eos": scalar("tokenizer.ggml.eos_token_id", -1),
        "unknown": scalar("tokenizer.ggml.unknown_token_id", -1),
        "padding": scalar("tokenizer.ggml.padding_token_id", -1),
        "pre": bytes(field("tokenizer.ggml.pre").parts[-1]).decode(),
    }


def make_pre_tokenizer(name):
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False,
                                          use_regex=True)
    if name == "gpt2":
        return byte_level
    if name == "smollm":
        return pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), byte_level])
    sys.exit(f"no reference pre-tokenizer for {name!r}")


def make_reference_tokenizer(vocab):
    bpe = models.BPE(
        vocab={token: i for i, token in enumerate(vocab["tokens"])},
        merges=[tuple(m.split(" ", 1)) for m in vocab["merges"]])
    tokenizer = Tokenizer(bpe)
    tokenizer.pre_tokenizer = make_pre_tokenizer(vocab["pre"])
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([
        AddedToken(token, special=True, normalized=False)
        for token, token_type in zip(vocab["tokens"], vocab["types"])
        if token_type in (TOKEN_TYPE_CONTROL, TOKEN_TYPE_USER_DEFINED)])
    return tokenizer


def random_texts(count, seed):
    rng = random.Random(seed)
    return ["".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 40)))
            for _ in range(count)]


def codepoint_probe(skip):
    """Code points in contexts where their class decides the splits: after a
    letter, after punctuation, and before a digit. All of planes 0-3 and 14,
    where Unicode 16 assigns characters; a sample of the unassigned planes
    4-13 and the private-use planes 15-16."""
    parts = []
    for cp in [*range(0x40000), *range(0x40000, 0xE0000, 257),
               *range(0xE0000, 0xF0000), *range(0xF0000, 0x110000, 257)]:
        if 0xD800 <= cp <= 0xDFFF or cp in skip:
            continue
        c = chr(cp)
        parts.append(f"a{c}!{c}1{c}")
    return "".join(parts)


def write_cases(path, encodings, splits):
    out = [b"CVQTOK01", struct.pack("<I", len(encodings))]
    for parse_special, round_trips, text, ids in encodings:
        data = text.encode("utf-8")
        out.append(struct.pack("<BBI", parse_special, round_trips, len(data)) +
                   data)
        out.append(struct.pack(f"<I{len(ids)}i", len(ids), *ids))
    out.append(struct.pack("<I", len(splits)))
    for name, text, ends in splits:
        name_data, data = name.encode(), text.encode("utf-8")
        out.append(struct.pack("<I", len(name_data)) + name_data +
                   struct.pack("<I", len(data)) + data)
        out.append(struct.pack(f"<I{len(ends)}I", len(ends), *ends))
    with open(path, "wb") as f:
        f.write(b"".join(out))


def piece_ends(pre_tokenizer, text):
    """Byte offsets where the reference's pieces end. After ByteLevel each
    character of a piece stands for one byte."""
    ends, end = [], 0
    for piece, _ in pre_tokenizer.pre_tokenize_str(text):
        end += len(piece)
        ends.append(end)
    return ends


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    gguf_path, out_dir = sys.argv[1], sys.argv[2]
    vocab = read_vocabulary(gguf_path)
    tokenizer = make_reference_tokenizer(vocab)

    texts = (PARAGRAPHS + ["\n\n".join(PARAGRAPHS)] + WHITESPACE_TEXTS +
             random_texts(2000, 1234))
    # Every code point from space to U+2FFF once, through the whole model.
    texts.append("".join(chr(cp) for cp in range(0x20, 0x3000)))
    encodings = []
    for text in texts + LOSSY_TEXTS:
        for parse_special in (1, 0):
            tokenizer.encode_special_tokens = not parse_special
            ids = tokenizer.encode(text).ids
            decoded = tokenizer.decode(ids, skip_special_tokens=False)
            round_trips = decoded == text
            if round_trips != (text not in LOSSY_TEXTS):
                sys.exit(f"reference round trip of {text!r} is {round_trips}")
            encodings.append((parse_special, round_trips, text, ids))

    splits = []
    for name in ("gpt2", "smollm"):
        pre_tokenizer = make_pre_tokenizer(name)
        for text in PARAGRAPHS + WHITESPACE_TEXTS + random_texts(500, 99):
            splits.append((name, text, piece_ends(pre_tokenizer, text)))
        probe = codepoint_probe(UNICODE_17_NUMBERS if name == "smollm"
                                else frozenset())
        splits.append((name, probe, piece_ends(pre_tokenizer, probe)))

    write_cases(f"{out_dir}/cases.bin", encodings, splits)
    print(f"tokenizer_reference: {len(vocab['tokens'])} tokens, "
          f"{len(vocab['merges'])} merges, pre={vocab['pre']}, "
          f"{len(encodings)} encodings, {len(splits)} splits")


if __name__ == "__main__":
    main()
