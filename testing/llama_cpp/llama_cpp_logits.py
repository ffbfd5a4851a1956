#!/usr/bin/env python3
"""Next-token logits of a GGUF model computed by llama.cpp (through the PyPI
package llama-cpp-python), for llama_cpp_reference_test.

    llama_cpp_logits.py MODEL.gguf IN.bin OUT.bin

IN.bin:  b"CVQIDS01", u32 n_prompts, n_prompts x (u32 n, n x i32 token id)
OUT.bin: b"CVQLOG01", u32 n_prompts, u32 vocab,
         n_prompts x (u32 n, n x vocab x f32 logits)   (little-endian)
"""

import struct
import sys

import numpy as np
from llama_cpp import Llama


def read_prompts(path):
    data = open(path, "rb").read()
    assert data[:8] == b"CVQIDS01", "bad input magic"
    (count,) = struct.unpack_from("<I", data, 8)
    offset, prompts = 12, []
    for _ in range(count):
        (n,) = struct.unpack_from("<I", data, offset)
        offset += 4
        prompts.append(list(struct.unpack_from(f"<{n}i", data, offset)))
        offset += 4 * n
    return prompts


def main():
    model, in_path, out_path = sys.argv[1:4]
    prompts = read_prompts(in_path)
    llm = Llama(model_path=model, n_ctx=1024, logits_all=True, n_threads=2,
                verbose=False)
    vocab = llm.n_vocab()
    out = [b"CVQLOG01", struct.pack("<II", len(prompts), vocab)]
    for ids in prompts:
        llm.reset()
        llm.eval(ids)
        logits = np.asarray(llm.scores[: len(ids)], dtype=np.float32)
        out.append(struct.pack("<I", len(ids)))
        out.append(logits.tobytes())
    with open(out_path, "wb") as f:
        f.write(b"".join(out))


if __name__ == "__main__":
    main()
