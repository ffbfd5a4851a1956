"""Independent reference for the C++ GGUF reader and dequantizer.

Uses the `gguf` Python package (GGUFReader and gguf.quants.dequantize, the
code llama.cpp's own tools use) so gguf_reference_test can compare the C++
results against it. Two modes:

  gguf_reference.py tensors MODEL OUT
      Writes to OUT one tab-separated line per metadata key and per tensor:
        kv      KEY  TYPE  VALUE
        tensor  NAME TYPE  DIMS  FILE_OFFSET  CHECKSUM
        row     NAME ROW   HEX
      TYPE is the GGUF value type number ("9:8" for an array of strings) or
      the ggml type name. VALUE is an integer in decimal, a float as
      printf's %.17g (exact, and formatted alike by C), a bool as 0/1, a string as the hex of its bytes; an array is its
      length, then its first and last elements (strings in hex). DIMS are in
      ggml order, comma-separated. CHECKSUM is the hex of the sum, modulo
      2^64, of (i + 1) * (bits of float32 element i) over the whole
      dequantized tensor in ggml order: equal checksums mean bit-identical
      tensors, whatever the order of summation. `row` lines hold the first
      and the last row of each tensor as the hex of its float32 bytes.

  gguf_reference.py blocks DIR
      For each DIR/NAME.bin, where NAME is a ggml type name ("Q6_K"),
      dequantizes the file's bytes as blocks of that type and writes the
      float32 values to DIR/NAME.f32.
"""

import os
import sys

import gguf
import numpy as np

_MASK = (1 << 64) - 1


def checksum(values: np.ndarray) -> int:
    bits = values.astype("<f4").view(np.uint32).astype(np.uint64).ravel()
    weights = np.arange(1, bits.size + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return int(np.sum(bits * weights, dtype=np.uint64)) & _MASK


def scalar_text(value_type: int, part: np.ndarray) -> str:
    if value_type == gguf.GGUFValueType.STRING:
        return bytes(part).hex()
    value = part[0]
    if value_type in (gguf.GGUFValueType.FLOAT32, gguf.GGUFValueType.FLOAT64):
        return "%.17g" % float(value)
    return str(int(value))


def field_line(field) -> str:
    value_type = int(field.types[0])
    if value_type != gguf.GGUFValueType.ARRAY:
        value = scalar_text(value_type, field.parts[field.data[0]])
        return f"kv\t{field.name}\t{value_type}\t{value}"
    element_type = int(field.types[1])
    parts = [field.parts[i] for i in field.data]
    value = str(len(parts))
    if parts:
        value += " " + scalar_text(element_type, parts[0])
        value += " " + scalar_text(element_type, parts[-1])
    return f"kv\t{field.name}\t9:{element_type}\t{value}"


def dump_tensors(model: str, out_path: str) -> None:
    reader = gguf.GGUFReader(model)
    with open(out_path, "w") as out:
        for field in reader.fields.values():
            # The reader lists the header's fields too; they are not metadata.
            if field.name.startswith("GGUF."):
                continue
            print(field_line(field), file=out)
        for tensor in reader.tensors:
            values = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
            values = values.reshape(-1, int(tensor.shape[0]))
            dims = ",".join(str(int(d)) for d in tensor.shape)
            print(f"tensor\t{tensor.name}\t{tensor.tensor_type.name}\t{dims}"
                  f"\t{tensor.data_offset}\t{checksum(values):x}", file=out)
            for row in sorted({0, values.shape[0] - 1}):
                data = values[row].astype("<f4").tobytes().hex()
                print(f"row\t{tensor.name}\t{row}\t{data}", file=out)


def dequantize_blocks(directory: str) -> None:
    # Random bits make some scales NaN or infinite: expected, not a warning.
    np.seterr(invalid="ignore", over="ignore")
    for name in sorted(os.listdir(directory)):
        stem, extension = os.path.splitext(name)
        if extension != ".bin":
            continue
        data = np.fromfile(os.path.join(directory, name), dtype=np.uint8)
        qtype = gguf.GGMLQuantizationType[stem]
        values = gguf.quants.dequantize(data, qtype)
        values.astype("<f4").tofile(os.path.join(directory, stem + ".f32"))


def main(argv: list) -> int:
    if len(argv) == 4 and argv[1] == "tensors":
        dump_tensors(argv[2], argv[3])
    elif len(argv) == 3 and argv[1] == "blocks":
        dequantize_blocks(argv[2])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
