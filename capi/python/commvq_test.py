"""Tests of the Python binding against values the C++ library computed.

Environment (set by capi/run_binding_test.sh): COMMVQ_LIBRARY (the .so),
COMMVQ_EXPECTATIONS (capi/testdata/make_binding_expectations output),
COMMVQ_GOLDEN_CODEBOOK (testing/golden/codebook_v1_small.cvqcb).
"""

import os
import unittest

import numpy as np

import commvq


def read_expectations(path):
    """name -> numpy array (f32, u8, i64) or str, from the records file."""
    types = {"f32": np.float32, "u8": np.uint8, "i64": np.int64}
    records = {}
    with open(path) as f:
        for line in f:
            fields = line.split()
            name, kind, ndim = fields[0], fields[1], int(fields[2])
            shape = [int(d) for d in fields[3:3 + ndim]]
            values = fields[3 + ndim:]
            if kind == "str":
                records[name] = values[0]
            else:
                records[name] = np.array(values, dtype=types[kind]).reshape(
                    shape)
    return records


EXPECTED = read_expectations(os.environ["COMMVQ_EXPECTATIONS"])
GOLDEN = os.environ["COMMVQ_GOLDEN_CODEBOOK"]


class VersionTest(unittest.TestCase):

    def test_versions(self):
        self.assertEqual(commvq.abi_version(), 1)
        self.assertRegex(commvq.version(), r"^\d+\.\d+\.\d+$")


class GoldenCodebookTest(unittest.TestCase):

    def test_info(self):
        with commvq.CodebookFile(GOLDEN) as f:
            info = f.info
            self.assertEqual(info["model_name"], "golden-model")
            self.assertEqual(info["num_kv_heads"], 2)
            self.assertEqual(info["pair_layout"], "half")
            names = [q["name"] for q in f.quantizers]
            self.assertEqual(names, ["layer.0.key", "layer.0.value"])
            self.assertEqual(f.quantizers[0]["role"], "key")

    def test_encode_decode_matches_cpp(self):
        with commvq.CodebookFile(GOLDEN) as f, \
                f.load_quantizer(EXPECTED["golden_name"]) as q:
            codes, side = q.encode(EXPECTED["input"])
            np.testing.assert_array_equal(codes, EXPECTED["golden_codes"])
            np.testing.assert_array_equal(side, EXPECTED["golden_side"])
            decoded = q.decode(codes, side)
            np.testing.assert_array_equal(decoded, EXPECTED["golden_decoded"])

    def test_missing_quantizer_raises_with_message(self):
        with commvq.CodebookFile(GOLDEN) as f:
            with self.assertRaises(commvq.CommvqError) as error:
                f.load_quantizer("layer.7.key")
            self.assertEqual(error.exception.code, commvq.NOT_FOUND)
            self.assertIn("layer.7.key", str(error.exception))

    def test_missing_file(self):
        with self.assertRaises(commvq.CommvqError) as error:
            commvq.CodebookFile("no/such/file.cvqcb")
        self.assertEqual(error.exception.code, commvq.NOT_FOUND)


class TrainTest(unittest.TestCase):

    def train(self, context=None):
        return commvq.Quantizer.train(EXPECTED["train_spec"],
                                      EXPECTED["samples"],
                                      seed=int(EXPECTED["train_seed"]),
                                      context=context)

    def test_train_encode_decode_matches_cpp(self):
        with commvq.Context(num_threads=2) as context, \
                self.train(context) as q:
            self.assertEqual(context.num_threads, 2)
            self.assertEqual(q.spec, EXPECTED["train_canonical_spec"])
            codes, side = q.encode(EXPECTED["input"], context=context)
            np.testing.assert_array_equal(codes, EXPECTED["train_codes"])
            np.testing.assert_array_equal(side, EXPECTED["train_side"])
            np.testing.assert_array_equal(q.decode(codes, side),
                                          EXPECTED["train_decoded"])

    def test_serialize_round_trip(self):
        with self.train() as q:
            data = q.serialize()
            self.assertEqual(len(data), int(EXPECTED["train_serialized_size"]))
            with commvq.Quantizer.deserialize(data) as copy:
                codes, side = copy.encode(EXPECTED["input"])
                np.testing.assert_array_equal(codes, EXPECTED["train_codes"])
            corrupt = bytearray(data)
            corrupt[len(data) // 2] ^= 0xFF
            with self.assertRaises(commvq.CommvqError) as error:
                commvq.Quantizer.deserialize(bytes(corrupt))
            self.assertEqual(error.exception.code, commvq.INVALID_ARGUMENT)

    def test_layout_and_stored_bytes(self):
        with self.train() as q:
            layout = q.layout
            self.assertEqual(layout["dim"], 8)
            self.assertEqual(q.stored_bytes(6),
                             EXPECTED["train_codes"].size +
                             EXPECTED["train_side"].size)


class ZeroCopyTest(unittest.TestCase):

    def test_outputs_are_written_in_place(self):
        with commvq.Quantizer.train("fp16", np.zeros((0, 8), np.float32)) as q:
            x = EXPECTED["input"]
            codes = np.empty((6, q.layout["code_bytes"]), np.uint8)
            side = np.empty((6, q.layout["side_bytes"]), np.uint8)
            out = np.empty((6, 8), np.float32)
            got_codes, _ = q.encode(x, codes=codes, side=side)
            self.assertIs(got_codes, codes)
            self.assertIs(q.decode(codes, side, out=out), out)
            np.testing.assert_allclose(out, x, rtol=1e-3)

    def test_fp16_input_and_strided_input(self):
        with commvq.Quantizer.train("fp16", np.zeros((0, 8), np.float32)) as q:
            x = EXPECTED["input"]
            codes16, _ = q.encode(x.astype(np.float16))
            codes32, _ = q.encode(x)
            np.testing.assert_array_equal(codes16, codes32)
            # A column-sliced view is not contiguous: copied, same result.
            wide = np.zeros((6, 16), np.float32)
            wide[:, ::2] = x
            np.testing.assert_array_equal(q.encode(wide[:, ::2])[0], codes32)

    def test_wrong_output_shape(self):
        with commvq.Quantizer.train("fp16", np.zeros((0, 8), np.float32)) as q:
            with self.assertRaises(ValueError):
                q.decode(*q.encode(EXPECTED["input"]),
                         out=np.empty((5, 8), np.float32))


class ErrorTest(unittest.TestCase):

    def test_bad_spec(self):
        with self.assertRaises(commvq.CommvqError) as error:
            commvq.Quantizer.train("int:bits=99", np.zeros((0, 8), np.float32))
        self.assertEqual(error.exception.code, commvq.INVALID_ARGUMENT)
        self.assertIn("bits", str(error.exception))

    def test_wrong_dim(self):
        with commvq.Quantizer.train("fp16", np.zeros((0, 8), np.float32)) as q:
            with self.assertRaises(commvq.CommvqError) as error:
                q.encode(np.zeros((2, 7), np.float32))
            self.assertEqual(error.exception.code, commvq.INVALID_ARGUMENT)

    def test_cuda_unavailable(self):
        with self.assertRaises(commvq.CommvqError) as error:
            commvq.Context(backend="cuda")
        self.assertEqual(error.exception.code, commvq.UNAVAILABLE)

    def test_closed_handle(self):
        q = commvq.Quantizer.train("fp16", np.zeros((0, 8), np.float32))
        q.close()
        q.close()  # idempotent
        with self.assertRaises(ValueError):
            q.spec


class RegistryAndLogTest(unittest.TestCase):

    def test_kinds(self):
        names = [k[0] for k in commvq.quantizer_kinds()]
        self.assertIn("commvq_key", names)
        self.assertEqual(names, sorted(names))

    def test_log_callback(self):
        lines = []
        commvq.set_log_callback(lambda level, msg: lines.append((level, msg)),
                                commvq.LOG_DEBUG)
        try:
            with TrainTest.train(self):
                pass
        finally:
            commvq.set_log_callback(None)
        self.assertTrue(any("trained rvq" in m for _, m in lines), lines)


class CacheTest(unittest.TestCase):

    def test_first_token_attends_to_itself(self):
        rng = np.random.default_rng(3)
        keys = rng.standard_normal((5, 2, 4), dtype=np.float32)
        values = rng.standard_normal((5, 2, 4), dtype=np.float32)
        with commvq.Cache(num_layers=1, num_heads=4, num_kv_heads=2,
                          head_dim=4) as cache:
            cache.append(0, keys, values)
            self.assertEqual(cache.length(0), 5)
            out = cache.attend(0, rng.standard_normal((1, 4, 4),
                                                      dtype=np.float32), [0])
            np.testing.assert_allclose(out[0], np.repeat(values[0], 2, axis=0),
                                       rtol=1e-6)
            memory = cache.memory()
            self.assertGreaterEqual(memory["kv_bytes"],
                                    keys.nbytes + values.nbytes)
            self.assertEqual(memory["encoded_tokens"], 0)
            cache.truncate(2)
            self.assertEqual(cache.length(0), 2)
            with self.assertRaises(commvq.CommvqError):
                cache.attend(0, np.zeros((1, 4, 4), np.float32), [3])

    def attend(self, storage, keys, values, queries):
        with commvq.Cache(1, 4, 2, 4, rope_theta=500000.0, pair_layout="half",
                          storage=storage) as cache:
            cache.append(0, keys, values)
            return (cache.attend(0, queries, np.arange(len(keys))),
                    cache.memory())

    def test_codebook_file_cache_attends_what_it_decodes(self):
        rng = np.random.default_rng(5)
        keys = rng.standard_normal((8, 2, 4), dtype=np.float32)
        values = rng.standard_normal((8, 2, 4), dtype=np.float32)
        queries = rng.standard_normal((8, 4, 4), dtype=np.float32)
        with commvq.CodebookFile(GOLDEN) as f, \
                f.load_quantizer("layer.0.key") as kq, \
                f.load_quantizer("layer.0.value") as vq:
            dec_keys = kq.decode(*kq.encode(keys.reshape(8, 8)))
            dec_values = vq.decode(*vq.encode(values.reshape(8, 8)))
        want, _ = self.attend("fp32", dec_keys.reshape(8, 2, 4),
                              dec_values.reshape(8, 2, 4), queries)
        got, memory = self.attend(f"commvq:codebooks={GOLDEN},window=0",
                                  keys, values, queries)
        np.testing.assert_allclose(got, want, atol=1e-4)
        self.assertEqual(memory["encoded_tokens"], 8)
        self.assertGreater(memory["codes"], 0)
        self.assertGreater(memory["workspace"], 0)  # kept for the next attend

    def test_bad_storage(self):
        with self.assertRaises(commvq.CommvqError) as error:
            commvq.Cache(1, 4, 2, 4, storage="commvq")
        self.assertEqual(error.exception.code, commvq.INVALID_ARGUMENT)
        self.assertIn("codebooks", str(error.exception))


if __name__ == "__main__":
    unittest.main()
