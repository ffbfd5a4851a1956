"""Python binding of the CommVQ C ABI (capi/commvq.h), with ctypes and numpy.

Every handle is a context manager (and has close()); every failed call
raises CommvqError carrying the library's status code and message. numpy
arrays cross without copies when they are C-contiguous and of an accepted
dtype (float32, float16, uint8); others are converted once. Outputs are
numpy arrays the library writes in place.

The library is found through $COMMVQ_LIBRARY (a path), else the dynamic
loader's search path ("libcommvq.so.1").

    import commvq, numpy as np
    with commvq.CodebookFile("codebooks.cvqcb") as f, \\
         f.load_quantizer("layer.0.key") as q:
        codes, side = q.encode(keys)          # keys: [n, dim] float32
        decoded = q.decode(codes, side)
"""

import ctypes
import os

import numpy as np

ABI_VERSION = 1

# Status codes (absl::StatusCode).
OK = 0
INVALID_ARGUMENT = 3
NOT_FOUND = 5
ALREADY_EXISTS = 6
FAILED_PRECONDITION = 9
OUT_OF_RANGE = 11
UNIMPLEMENTED = 12
INTERNAL = 13
UNAVAILABLE = 14

LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR = 0, 1, 2, 3

_DEVICE_CPU = 1
_DTYPES = {  # numpy dtype -> (DLPack code, bits)
    np.dtype(np.float32): (2, 32),
    np.dtype(np.float16): (2, 16),
    np.dtype(np.uint8): (1, 8),
}
_PAIR_LAYOUTS = {"half": 1, "interleaved": 2}
_ROLES = {0: "unspecified", 1: "key", 2: "value"}


class CommvqError(Exception):
    """A failed call: `code` is the status code, str() the message."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


# --- The C structs (layouts asserted by capi/layout_test.c) ---------------

class _Tensor(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32),
                ("dtype_code", ctypes.c_uint8),
                ("dtype_bits", ctypes.c_uint8),
                ("dtype_lanes", ctypes.c_uint16),
                ("device_type", ctypes.c_int32),
                ("device_id", ctypes.c_int32),
                ("ndim", ctypes.c_int32),
                ("reserved", ctypes.c_uint32),
                ("data", ctypes.c_void_p),
                ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64))]


class _ContextOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32),
                ("num_threads", ctypes.c_int32),
                ("backend", ctypes.c_char_p),
                ("device_id", ctypes.c_int32),
                ("reserved", ctypes.c_uint32),
                ("stream", ctypes.c_void_p)]


class _QuantizerKind(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32),
                ("reserved", ctypes.c_uint32),
                ("name", ctypes.c_char_p),
                ("summary", ctypes.c_char_p),
                ("example_spec", ctypes.c_char_p)]


class _CodeLayout(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32),
                ("reserved", ctypes.c_uint32),
                ("dim", ctypes.c_int64),
                ("code_bits", ctypes.c_int64),
                ("code_bytes", ctypes.c_int64),
                ("side_bytes", ctypes.c_int64),
                ("block_vectors", ctypes.c_int64),
                ("parameter_bytes", ctypes.c_int64)]


class _CodebookFileInfo(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32),
                ("format_version", ctypes.c_uint32),
                ("num_layers", ctypes.c_int32),
                ("num_heads", ctypes.c_int32),
                ("num_kv_heads", ctypes.c_int32),
                ("head_dim", ctypes.c_int32),
                ("pair_layout", ctypes.c_int32),
                ("num_quantizers", ctypes.c_uint32),
                ("rope_theta", ctypes.c_double),
                ("model_name", ctypes.c_char_p)]


class _CodebookQuantizerInfo(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32),
                ("layer", ctypes.c_int32),
                ("role", ctypes.c_int32),
                ("reserved", ctypes.c_uint32),
                ("dim", ctypes.c_int64),
                ("name", ctypes.c_char_p),
                ("spec", ctypes.c_char_p)]


class _CacheOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32),
                ("num_layers", ctypes.c_int32),
                ("num_heads", ctypes.c_int32),
                ("num_kv_heads", ctypes.c_int32),
                ("head_dim", ctypes.c_int32),
                ("pair_layout", ctypes.c_int32),
                ("rope_theta", ctypes.c_double),
                ("storage", ctypes.c_char_p)]


_MEMORY_FIELDS = ["num_tokens", "encoded_tokens", "kv_bytes", "codes", "side",
                  "full_precision", "page_slack", "codebooks", "rope_table",
                  "workspace"]


class _CacheMemory(ctypes.Structure):
    _fields_ = ([("struct_size", ctypes.c_uint32),
                 ("reserved", ctypes.c_uint32)] +
                [(name, ctypes.c_int64) for name in _MEMORY_FIELDS])


def _new(struct_type):
    s = struct_type()
    s.struct_size = ctypes.sizeof(struct_type)
    return s


_LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int32,
                           ctypes.c_char_p)
_P = ctypes.c_void_p
_PP = ctypes.POINTER(ctypes.c_void_p)
_T = ctypes.POINTER(_Tensor)

# name -> argument types of every fallible function (all return cvq_status*).
_SIGNATURES = {
    "cvq_set_log_callback": [_LOG_FN, _P, ctypes.c_int32],
    "cvq_context_create": [ctypes.POINTER(_ContextOptions), _PP],
    "cvq_context_num_threads": [_P, ctypes.POINTER(ctypes.c_int32)],
    "cvq_registry_count": [ctypes.POINTER(ctypes.c_uint32)],
    "cvq_registry_get": [ctypes.c_uint32, ctypes.POINTER(_QuantizerKind)],
    "cvq_plugin_load": [ctypes.c_char_p],
    "cvq_quantizer_train": [_P, ctypes.c_char_p, _T, ctypes.c_uint64, _PP],
    "cvq_quantizer_deserialize": [ctypes.c_char_p, ctypes.c_size_t, _PP],
    "cvq_quantizer_serialize": [_P, ctypes.c_void_p, ctypes.c_size_t,
                                ctypes.POINTER(ctypes.c_size_t)],
    "cvq_quantizer_spec": [_P, ctypes.POINTER(ctypes.c_char_p)],
    "cvq_quantizer_layout": [_P, ctypes.POINTER(_CodeLayout)],
    "cvq_quantizer_stored_bytes": [_P, ctypes.c_int64,
                                   ctypes.POINTER(ctypes.c_int64)],
    "cvq_quantizer_encode": [_P, _P, _T, _T, _T],
    "cvq_quantizer_decode": [_P, _P, _T, _T, _T],
    "cvq_codebook_file_open": [ctypes.c_char_p, _PP],
    "cvq_codebook_file_info_get": [_P, ctypes.POINTER(_CodebookFileInfo)],
    "cvq_codebook_file_quantizer": [_P, ctypes.c_uint32,
                                    ctypes.POINTER(_CodebookQuantizerInfo)],
    "cvq_codebook_file_load_quantizer": [_P, ctypes.c_char_p, _PP],
    "cvq_cache_create": [_P, ctypes.POINTER(_CacheOptions), _PP],
    "cvq_cache_append": [_P, ctypes.c_int32, _T, _T],
    "cvq_cache_truncate": [_P, ctypes.c_int64],
    "cvq_cache_length": [_P, ctypes.c_int32, ctypes.POINTER(ctypes.c_int64)],
    "cvq_cache_memory_get": [_P, ctypes.POINTER(_CacheMemory)],
    "cvq_cache_attend": [_P, ctypes.c_int32, _T,
                         ctypes.POINTER(ctypes.c_int64), ctypes.c_int64, _T],
}
_DESTROYERS = ["cvq_context_destroy", "cvq_quantizer_destroy",
               "cvq_codebook_file_destroy", "cvq_cache_destroy",
               "cvq_status_destroy"]


def _load():
    lib = ctypes.CDLL(os.environ.get("COMMVQ_LIBRARY", "libcommvq.so.1"))
    for name, argtypes in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes = argtypes
        fn.restype = ctypes.c_void_p
    for name in _DESTROYERS:
        fn = getattr(lib, name)
        fn.argtypes = [ctypes.c_void_p]
        fn.restype = None
    lib.cvq_status_code.argtypes = [ctypes.c_void_p]
    lib.cvq_status_code.restype = ctypes.c_int32
    lib.cvq_status_message.argtypes = [ctypes.c_void_p]
    lib.cvq_status_message.restype = ctypes.c_char_p
    lib.cvq_abi_version.restype = ctypes.c_uint32
    lib.cvq_version_string.restype = ctypes.c_char_p
    if lib.cvq_abi_version() != ABI_VERSION:
        raise ImportError(f"libcommvq ABI version {lib.cvq_abi_version()}; "
                          f"this binding needs {ABI_VERSION}")
    return lib


_lib = _load()


def _check(status):
    """Raises CommvqError for a non-NULL status (and frees it)."""
    if status:
        code = _lib.cvq_status_code(status)
        message = _lib.cvq_status_message(status).decode()
        _lib.cvq_status_destroy(status)
        raise CommvqError(code, message)


def _call(name, *args):
    _check(getattr(_lib, name)(*args))


def _create(name, *args):
    """Calls a constructor whose last argument is the handle out-parameter."""
    handle = ctypes.c_void_p()
    _call(name, *args, ctypes.byref(handle))
    return handle


class _Borrowed:
    """A cvq_tensor viewing a numpy array (converted first if its dtype or
    layout is not accepted). Hold the object until the call returns: it
    owns any converted copy the tensor points to."""

    def __init__(self, array, dtypes=None):
        array = np.asarray(array)
        if dtypes is not None and array.dtype not in dtypes:
            array = array.astype(dtypes[0])
        if array.dtype not in _DTYPES:
            array = array.astype(np.float32)
        # Copies only if the layout is not already row-major contiguous.
        self.array = np.ascontiguousarray(array)
        self.shape = (ctypes.c_int64 * max(self.array.ndim, 1))(
            *self.array.shape)
        code, bits = _DTYPES[self.array.dtype]
        self.tensor = _new(_Tensor)
        self.tensor.dtype_code, self.tensor.dtype_bits = code, bits
        self.tensor.dtype_lanes = 1
        self.tensor.device_type = _DEVICE_CPU
        self.tensor.ndim = self.array.ndim
        self.tensor.data = self.array.ctypes.data
        self.tensor.shape = self.shape

    @property
    def ref(self):
        return ctypes.byref(self.tensor)


def _output(array, shape, dtype):
    """`array` checked as a writable output of `shape`, or a new one."""
    if array is None:
        return np.empty(shape, dtype=dtype)
    if (array.dtype != dtype or tuple(array.shape) != tuple(shape)
            or not array.flags.c_contiguous or not array.flags.writeable):
        raise ValueError(f"out must be a writable C-contiguous {dtype} array "
                         f"of shape {tuple(shape)}; got {array.dtype} "
                         f"{tuple(array.shape)}")
    return array


class _Handle:
    """Owns one C handle; close() (or leaving a `with`) frees it."""

    _destroy = None
    _handle = None  # also when __init__ failed before taking a handle

    def __init__(self, handle):
        self._handle = handle

    @property
    def handle(self):
        if self._handle is None:
            raise ValueError(f"{type(self).__name__} is closed")
        return self._handle

    def close(self):
        if self._handle is not None:
            getattr(_lib, self._destroy)(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


def _context_handle(context):
    return None if context is None else context.handle


def abi_version():
    return _lib.cvq_abi_version()


def version():
    return _lib.cvq_version_string().decode()


_log_callback = None  # the installed ctypes callback, kept alive


def set_log_callback(fn, min_level=LOG_INFO):
    """fn(level, message) receives the library's diagnostics; None stops."""
    global _log_callback
    callback = _LOG_FN() if fn is None else _LOG_FN(
        lambda _, level, message: fn(level, message.decode()))
    _call("cvq_set_log_callback", callback, None, min_level)
    _log_callback = callback


def quantizer_kinds():
    """[(name, summary, example_spec)] of the registered quantizers."""
    count = ctypes.c_uint32()
    _call("cvq_registry_count", ctypes.byref(count))
    kinds = []
    for i in range(count.value):
        kind = _new(_QuantizerKind)
        _call("cvq_registry_get", i, ctypes.byref(kind))
        kinds.append((kind.name.decode(), kind.summary.decode(),
                      kind.example_spec.decode()))
    return kinds


def load_plugin(path):
    _call("cvq_plugin_load", os.fsencode(path))


class Context(_Handle):
    """Backend and threads work runs on; pass it to encode/decode/train."""

    _destroy = "cvq_context_destroy"

    def __init__(self, num_threads=0, backend="cpu"):
        options = _new(_ContextOptions)
        options.num_threads = num_threads
        options.backend = backend.encode()
        super().__init__(_create("cvq_context_create", ctypes.byref(options)))

    @property
    def num_threads(self):
        n = ctypes.c_int32()
        _call("cvq_context_num_threads", self.handle, ctypes.byref(n))
        return n.value


class Quantizer(_Handle):
    """A trained, immutable quantizer; thread-safe."""

    _destroy = "cvq_quantizer_destroy"

    @classmethod
    def train(cls, spec, samples, seed=0, context=None):
        """samples: [n, dim] float32 (n may be 0 for untrained kinds)."""
        view = _Borrowed(samples, [np.float32])
        return cls(_create("cvq_quantizer_train", _context_handle(context),
                           spec.encode(), view.ref, seed))

    @classmethod
    def deserialize(cls, data):
        data = bytes(data)
        return cls(_create("cvq_quantizer_deserialize", data, len(data)))

    def serialize(self):
        size = ctypes.c_size_t()
        _call("cvq_quantizer_serialize", self.handle, None, 0,
              ctypes.byref(size))
        buffer = ctypes.create_string_buffer(size.value)
        _call("cvq_quantizer_serialize", self.handle, buffer, size.value,
              ctypes.byref(size))
        return buffer.raw[:size.value]

    @property
    def spec(self):
        spec = ctypes.c_char_p()
        _call("cvq_quantizer_spec", self.handle, ctypes.byref(spec))
        return spec.value.decode()

    @property
    def layout(self):
        """dict: dim, code_bits, code_bytes, side_bytes, block_vectors,
        parameter_bytes."""
        layout = _new(_CodeLayout)
        _call("cvq_quantizer_layout", self.handle, ctypes.byref(layout))
        return {name: getattr(layout, name) for name, _ in _CodeLayout._fields_
                if name not in ("struct_size", "reserved")}

    def stored_bytes(self, num_vectors):
        n = ctypes.c_int64()
        _call("cvq_quantizer_stored_bytes", self.handle, num_vectors,
              ctypes.byref(n))
        return n.value

    def _shapes(self, n):
        layout = self.layout
        return ((n, layout["code_bytes"]),
                (n // layout["block_vectors"], layout["side_bytes"]),
                (n, layout["dim"]))

    def encode(self, x, codes=None, side=None, context=None):
        """x: [n, dim] float32/float16 -> (codes uint8, side uint8)."""
        view = _Borrowed(x, [np.float32, np.float16])
        codes_shape, side_shape, _ = self._shapes(view.array.shape[0]
                                                  if view.array.ndim else 0)
        codes = _output(codes, codes_shape, np.uint8)
        side = _output(side, side_shape, np.uint8)
        codes_view, side_view = _Borrowed(codes), _Borrowed(side)
        _call("cvq_quantizer_encode", _context_handle(context), self.handle,
              view.ref, codes_view.ref, side_view.ref)
        return codes, side

    def decode(self, codes, side, out=None, context=None):
        """codes, side as from encode -> [n, dim] float32."""
        codes_view = _Borrowed(codes, [np.uint8])
        side_view = _Borrowed(side, [np.uint8])
        n = codes_view.array.shape[0] if codes_view.array.ndim else 0
        out = _output(out, self._shapes(n)[2], np.float32)
        out_view = _Borrowed(out)
        _call("cvq_quantizer_decode", _context_handle(context), self.handle,
              codes_view.ref, side_view.ref, out_view.ref)
        return out


class CodebookFile(_Handle):
    """A validated codebook file (.cvqcb)."""

    _destroy = "cvq_codebook_file_destroy"

    def __init__(self, path):
        super().__init__(_create("cvq_codebook_file_open", os.fsencode(path)))

    @property
    def info(self):
        info = _new(_CodebookFileInfo)
        _call("cvq_codebook_file_info_get", self.handle, ctypes.byref(info))
        layouts = {v: k for k, v in _PAIR_LAYOUTS.items()}
        return {"format_version": info.format_version,
                "model_name": info.model_name.decode(),
                "num_layers": info.num_layers, "num_heads": info.num_heads,
                "num_kv_heads": info.num_kv_heads, "head_dim": info.head_dim,
                "rope_theta": info.rope_theta,
                "pair_layout": layouts.get(info.pair_layout, "unspecified"),
                "num_quantizers": info.num_quantizers}

    @property
    def quantizers(self):
        """[dict(name, layer, role, dim, spec)] in file order."""
        result = []
        for i in range(self.info["num_quantizers"]):
            q = _new(_CodebookQuantizerInfo)
            _call("cvq_codebook_file_quantizer", self.handle, i,
                  ctypes.byref(q))
            result.append({"name": q.name.decode(), "layer": q.layer,
                           "role": _ROLES.get(q.role, "unspecified"),
                           "dim": q.dim, "spec": q.spec.decode()})
        return result

    def load_quantizer(self, name):
        return Quantizer(_create("cvq_codebook_file_load_quantizer",
                                 self.handle, name.encode()))


class Cache(_Handle):
    """The KV cache of one sequence; attention with RoPE applied inside.

    storage: None/"fp32" (full precision), or a compressed cache in the
    syntax of `commvq eval-ppl --cache`, e.g.
    "commvq:codebooks=FILE,window=128" or "kivi:bits=2"."""

    _destroy = "cvq_cache_destroy"

    def __init__(self, num_layers, num_heads, num_kv_heads, head_dim,
                 rope_theta=10000.0, pair_layout="interleaved", storage=None,
                 context=None):
        options = _new(_CacheOptions)
        options.num_layers, options.num_heads = num_layers, num_heads
        options.num_kv_heads, options.head_dim = num_kv_heads, head_dim
        options.rope_theta = rope_theta
        if pair_layout not in _PAIR_LAYOUTS:
            raise ValueError(f"pair_layout {pair_layout!r}: expected one of "
                             f"{sorted(_PAIR_LAYOUTS)}")
        options.pair_layout = _PAIR_LAYOUTS[pair_layout]
        options.storage = None if storage is None else storage.encode()
        self._context = context  # attention runs on its threads
        super().__init__(_create("cvq_cache_create", _context_handle(context),
                                 ctypes.byref(options)))
        self._num_heads, self._head_dim = num_heads, head_dim

    def append(self, layer, keys, values):
        """keys (pre-RoPE), values: [t, num_kv_heads, head_dim] float32."""
        keys_view = _Borrowed(keys, [np.float32])
        values_view = _Borrowed(values, [np.float32])
        _call("cvq_cache_append", self.handle, layer, keys_view.ref,
              values_view.ref)

    def truncate(self, length):
        _call("cvq_cache_truncate", self.handle, length)

    def length(self, layer=0):
        n = ctypes.c_int64()
        _call("cvq_cache_length", self.handle, layer, ctypes.byref(n))
        return n.value

    def memory(self):
        """dict of bytes held by component (see cvq_cache_memory): kv_bytes,
        codes, side, full_precision, page_slack, codebooks, rope_table,
        workspace; and num_tokens, encoded_tokens."""
        m = _new(_CacheMemory)
        _call("cvq_cache_memory_get", self.handle, ctypes.byref(m))
        return {name: getattr(m, name) for name in _MEMORY_FIELDS}

    def attend(self, layer, queries, positions, out=None):
        """queries: [t, num_heads, head_dim] float32 (pre-RoPE); positions:
        [t] -> [t, num_heads, head_dim] float32."""
        q = _Borrowed(queries, [np.float32])
        pos = np.ascontiguousarray(positions, dtype=np.int64)
        out = _output(out, (len(pos), self._num_heads, self._head_dim),
                      np.float32)
        out_view = _Borrowed(out)
        _call("cvq_cache_attend", self.handle, layer, q.ref,
              pos.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)), len(pos),
              out_view.ref)
        return out
