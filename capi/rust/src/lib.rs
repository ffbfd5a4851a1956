//! Safe Rust binding of the CommVQ C ABI (capi/commvq.h, libcommvq.so.1).
//!
//! Every handle frees itself on `Drop`; every fallible call returns
//! `Result<T, Error>` carrying the library's status code and message.
//! Slices are passed to the library without copies.
//!
//! ```no_run
//! let file = commvq::CodebookFile::open("codebooks.cvqcb")?;
//! let key = file.load_quantizer("layer.0.key")?;
//! let keys = vec![0.5f32; 4 * key.layout()?.dim as usize];
//! let (codes, side) = key.encode(&keys, None)?;
//! let decoded = key.decode(&codes, &side, None)?;
//! # Ok::<(), commvq::Error>(())
//! ```

pub mod ffi;

use std::ffi::{CStr, CString};
use std::fmt;
use std::marker::PhantomData;
use std::mem;
use std::os::raw::{c_char, c_void};
use std::ptr;

/// The ABI version this crate was written against.
pub const ABI_VERSION: u32 = 1;

/// Status codes (absl::StatusCode values).
pub mod code {
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const NOT_FOUND: i32 = 5;
    pub const ALREADY_EXISTS: i32 = 6;
    pub const OUT_OF_RANGE: i32 = 11;
    pub const UNIMPLEMENTED: i32 = 12;
    pub const UNAVAILABLE: i32 = 14;
}

/// A failed call: the status code and the library's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: i32,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "commvq error {}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Converts a returned status (NULL = success) and frees it.
fn check(status: ffi::Status) -> Result<()> {
    if status.is_null() {
        return Ok(());
    }
    // SAFETY: a non-NULL status from the library stays valid until destroyed.
    unsafe {
        let error = Error {
            code: ffi::cvq_status_code(status),
            message: text(ffi::cvq_status_message(status)),
        };
        ffi::cvq_status_destroy(status);
        Err(error)
    }
}

/// A copy of a NUL-terminated string of the library.
unsafe fn text(s: *const c_char) -> String {
    if s.is_null() {
        String::new()
    } else {
        CStr::from_ptr(s).to_string_lossy().into_owned()
    }
}

fn c_string(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error {
        code: code::INVALID_ARGUMENT,
        message: format!("{} contains a NUL byte", what),
    })
}

fn struct_of<T>() -> T {
    // SAFETY: every ffi struct is plain data for which all-zero is valid.
    let mut s: T = unsafe { mem::zeroed() };
    // SAFETY: every ffi struct starts with `uint32_t struct_size`.
    unsafe { *(&mut s as *mut T as *mut u32) = mem::size_of::<T>() as u32 };
    s
}

/// Element types crossing the ABI.
pub trait Element: Copy {
    const CODE: u8;
    const BITS: u8;
}
impl Element for f32 {
    const CODE: u8 = 2;
    const BITS: u8 = 32;
}
impl Element for u8 {
    const CODE: u8 = 1;
    const BITS: u8 = 8;
}

/// A borrowed row-major view of a slice; `shape` must outlive the tensor.
fn tensor<T: Element>(data: *const T, shape: &[i64]) -> ffi::cvq_tensor {
    let mut t: ffi::cvq_tensor = struct_of();
    t.dtype_code = T::CODE;
    t.dtype_bits = T::BITS;
    t.dtype_lanes = 1;
    t.device_type = 1; // CPU
    t.ndim = shape.len() as i32;
    t.data = data as *mut c_void;
    t.shape = shape.as_ptr();
    t
}

/// InvalidArgument unless `len` is a whole number of rows of `row` elements.
fn rows(len: usize, row: i64, what: &str) -> Result<i64> {
    if row <= 0 || len % row as usize != 0 {
        return Err(Error {
            code: code::INVALID_ARGUMENT,
            message: format!("{} has {} elements; expected a multiple of {}", what, len, row),
        });
    }
    Ok(len as i64 / row)
}

/// Rows of a side buffer of `len` bytes (a quantizer without side data has
/// n / block_vectors empty rows); the library checks them against n.
fn side_rows(len: usize, l: &ffi::cvq_code_layout, n: i64) -> Result<i64> {
    if l.side_bytes == 0 {
        Ok(n / l.block_vectors)
    } else {
        rows(len, l.side_bytes, "side")
    }
}

pub fn abi_version() -> u32 {
    // SAFETY: no arguments.
    unsafe { ffi::cvq_abi_version() }
}

pub fn version() -> String {
    // SAFETY: static storage.
    unsafe { text(ffi::cvq_version_string()) }
}

/// One registered quantizer kind.
#[derive(Debug, Clone)]
pub struct QuantizerKind {
    pub name: String,
    pub summary: String,
    pub example_spec: String,
}

pub fn quantizer_kinds() -> Result<Vec<QuantizerKind>> {
    let mut count = 0u32;
    // SAFETY: valid out-pointer.
    check(unsafe { ffi::cvq_registry_count(&mut count) })?;
    (0..count)
        .map(|i| {
            let mut kind: ffi::cvq_quantizer_kind = struct_of();
            // SAFETY: valid struct; its strings have static storage.
            check(unsafe { ffi::cvq_registry_get(i, &mut kind) })?;
            Ok(unsafe {
                QuantizerKind {
                    name: text(kind.name),
                    summary: text(kind.summary),
                    example_spec: text(kind.example_spec),
                }
            })
        })
        .collect()
}

pub fn load_plugin(path: &str) -> Result<()> {
    let path = c_string(path, "path")?;
    // SAFETY: valid C string.
    check(unsafe { ffi::cvq_plugin_load(path.as_ptr()) })
}

/// Backend and threads; may be shared by concurrent calls.
pub struct Context {
    handle: *mut c_void,
}

// SAFETY: the C ABI allows a context in concurrent calls from any thread.
unsafe impl Send for Context {}
unsafe impl Sync for Context {}

impl Context {
    /// A CPU context; `num_threads` 0 = all hardware threads.
    pub fn new(num_threads: i32) -> Result<Context> {
        Context::with_backend("cpu", num_threads)
    }

    pub fn with_backend(backend: &str, num_threads: i32) -> Result<Context> {
        let backend = c_string(backend, "backend")?;
        let mut options: ffi::cvq_context_options = struct_of();
        options.num_threads = num_threads;
        options.backend = backend.as_ptr();
        let mut handle = ptr::null_mut();
        // SAFETY: valid options and out-pointer.
        check(unsafe { ffi::cvq_context_create(&options, &mut handle) })?;
        Ok(Context { handle })
    }

    pub fn num_threads(&self) -> Result<i32> {
        let mut n = 0;
        // SAFETY: live handle, valid out-pointer.
        check(unsafe { ffi::cvq_context_num_threads(self.handle, &mut n) })?;
        Ok(n)
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: owned handle, freed once.
        unsafe { ffi::cvq_context_destroy(self.handle) }
    }
}

fn context_ptr(context: Option<&Context>) -> *mut c_void {
    context.map_or(ptr::null_mut(), |c| c.handle)
}

/// How encoded vectors are laid out.
pub type CodeLayout = ffi::cvq_code_layout;

/// A trained, immutable quantizer; usable from many threads at once.
pub struct Quantizer {
    handle: *mut c_void,
}

// SAFETY: quantizers are immutable and thread-safe in the C ABI.
unsafe impl Send for Quantizer {}
unsafe impl Sync for Quantizer {}

impl Quantizer {
    /// Trains `spec` on `samples` ([n, dim] row-major; n may be 0 for kinds
    /// without trained parameters).
    pub fn train(spec: &str, samples: &[f32], dim: i64, seed: u64, context: Option<&Context>) -> Result<Quantizer> {
        let spec = c_string(spec, "spec")?;
        let shape = [rows(samples.len(), dim, "samples")?, dim];
        let t = tensor(samples.as_ptr(), &shape);
        let mut handle = ptr::null_mut();
        // SAFETY: the tensor views `samples` for the duration of the call.
        check(unsafe { ffi::cvq_quantizer_train(context_ptr(context), spec.as_ptr(), &t, seed, &mut handle) })?;
        Ok(Quantizer { handle })
    }

    pub fn deserialize(bytes: &[u8]) -> Result<Quantizer> {
        let mut handle = ptr::null_mut();
        // SAFETY: valid slice and out-pointer.
        check(unsafe { ffi::cvq_quantizer_deserialize(bytes.as_ptr(), bytes.len(), &mut handle) })?;
        Ok(Quantizer { handle })
    }

    pub fn serialize(&self) -> Result<Vec<u8>> {
        let mut size = 0usize;
        // SAFETY: size query with a NULL buffer, then a buffer of that size.
        check(unsafe { ffi::cvq_quantizer_serialize(self.handle, ptr::null_mut(), 0, &mut size) })?;
        let mut bytes = vec![0u8; size];
        check(unsafe { ffi::cvq_quantizer_serialize(self.handle, bytes.as_mut_ptr(), bytes.len(), &mut size) })?;
        bytes.truncate(size);
        Ok(bytes)
    }

    /// The canonical spec.
    pub fn spec(&self) -> Result<String> {
        let mut spec = ptr::null();
        // SAFETY: the string lives as long as the quantizer; copied here.
        check(unsafe { ffi::cvq_quantizer_spec(self.handle, &mut spec) })?;
        Ok(unsafe { text(spec) })
    }

    pub fn layout(&self) -> Result<CodeLayout> {
        let mut layout: CodeLayout = struct_of();
        // SAFETY: valid struct.
        check(unsafe { ffi::cvq_quantizer_layout(self.handle, &mut layout) })?;
        Ok(layout)
    }

    pub fn stored_bytes(&self, num_vectors: i64) -> Result<i64> {
        let mut bytes = 0;
        // SAFETY: valid out-pointer.
        check(unsafe { ffi::cvq_quantizer_stored_bytes(self.handle, num_vectors, &mut bytes) })?;
        Ok(bytes)
    }

    /// Encodes `input` ([n, dim]) into caller buffers: codes [n,
    /// code_bytes], side [n / block_vectors, side_bytes].
    pub fn encode_into(&self, input: &[f32], codes: &mut [u8], side: &mut [u8], context: Option<&Context>) -> Result<()> {
        let l = self.layout()?;
        let n = rows(input.len(), l.dim, "input")?;
        let in_shape = [n, l.dim];
        let codes_shape = [rows(codes.len(), l.code_bytes, "codes")?, l.code_bytes];
        let side_shape = [side_rows(side.len(), &l, n)?, l.side_bytes];
        let (ti, tc, ts) = (
            tensor(input.as_ptr(), &in_shape),
            tensor(codes.as_mut_ptr() as *const u8, &codes_shape),
            tensor(side.as_mut_ptr() as *const u8, &side_shape),
        );
        // SAFETY: the views cover exactly the slices, alive during the call.
        check(unsafe { ffi::cvq_quantizer_encode(context_ptr(context), self.handle, &ti, &tc, &ts) })
    }

    /// Encodes `input` ([n, dim]) and returns (codes, side).
    pub fn encode(&self, input: &[f32], context: Option<&Context>) -> Result<(Vec<u8>, Vec<u8>)> {
        let l = self.layout()?;
        let n = rows(input.len(), l.dim, "input")?;
        let mut codes = vec![0u8; (n * l.code_bytes) as usize];
        let mut side = vec![0u8; (n / l.block_vectors * l.side_bytes) as usize];
        self.encode_into(input, &mut codes, &mut side, context)?;
        Ok((codes, side))
    }

    /// Decodes codes and side data from `encode` into [n, dim] floats.
    pub fn decode(&self, codes: &[u8], side: &[u8], context: Option<&Context>) -> Result<Vec<f32>> {
        let l = self.layout()?;
        let n = rows(codes.len(), l.code_bytes, "codes")?;
        let mut out = vec![0f32; (n * l.dim) as usize];
        let codes_shape = [n, l.code_bytes];
        let side_shape = [side_rows(side.len(), &l, n)?, l.side_bytes];
        let out_shape = [n, l.dim];
        let (tc, ts, to) = (
            tensor(codes.as_ptr(), &codes_shape),
            tensor(side.as_ptr(), &side_shape),
            tensor(out.as_mut_ptr() as *const f32, &out_shape),
        );
        // SAFETY: the views cover exactly the slices, alive during the call.
        check(unsafe { ffi::cvq_quantizer_decode(context_ptr(context), self.handle, &tc, &ts, &to) })?;
        Ok(out)
    }
}

impl Drop for Quantizer {
    fn drop(&mut self) {
        // SAFETY: owned handle, freed once.
        unsafe { ffi::cvq_quantizer_destroy(self.handle) }
    }
}

/// Model shape recorded in a codebook file.
#[derive(Debug, Clone, PartialEq)]
pub struct CodebookFileInfo {
    pub format_version: u32,
    pub model_name: String,
    pub num_layers: i32,
    pub num_heads: i32,
    pub num_kv_heads: i32,
    pub head_dim: i32,
    pub pair_layout: i32,
    pub rope_theta: f64,
    pub num_quantizers: u32,
}

/// One quantizer stored in a codebook file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredQuantizer {
    pub name: String,
    pub layer: i32,
    pub role: i32,
    pub dim: i64,
    pub spec: String,
}

/// A validated codebook file (.cvqcb).
pub struct CodebookFile {
    handle: *mut c_void,
}

// SAFETY: codebook files are immutable and thread-safe in the C ABI.
unsafe impl Send for CodebookFile {}
unsafe impl Sync for CodebookFile {}

impl CodebookFile {
    pub fn open(path: &str) -> Result<CodebookFile> {
        let path = c_string(path, "path")?;
        let mut handle = ptr::null_mut();
        // SAFETY: valid C string and out-pointer.
        check(unsafe { ffi::cvq_codebook_file_open(path.as_ptr(), &mut handle) })?;
        Ok(CodebookFile { handle })
    }

    pub fn info(&self) -> Result<CodebookFileInfo> {
        let mut i: ffi::cvq_codebook_file_info = struct_of();
        // SAFETY: valid struct; the name is copied while the file lives.
        check(unsafe { ffi::cvq_codebook_file_info_get(self.handle, &mut i) })?;
        Ok(CodebookFileInfo {
            format_version: i.format_version,
            model_name: unsafe { text(i.model_name) },
            num_layers: i.num_layers,
            num_heads: i.num_heads,
            num_kv_heads: i.num_kv_heads,
            head_dim: i.head_dim,
            pair_layout: i.pair_layout,
            rope_theta: i.rope_theta,
            num_quantizers: i.num_quantizers,
        })
    }

    pub fn quantizers(&self) -> Result<Vec<StoredQuantizer>> {
        (0..self.info()?.num_quantizers)
            .map(|index| {
                let mut q: ffi::cvq_codebook_quantizer_info = struct_of();
                // SAFETY: valid struct; strings copied while the file lives.
                check(unsafe { ffi::cvq_codebook_file_quantizer(self.handle, index, &mut q) })?;
                Ok(StoredQuantizer {
                    name: unsafe { text(q.name) },
                    layer: q.layer,
                    role: q.role,
                    dim: q.dim,
                    spec: unsafe { text(q.spec) },
                })
            })
            .collect()
    }

    pub fn load_quantizer(&self, name: &str) -> Result<Quantizer> {
        let name = c_string(name, "name")?;
        let mut handle = ptr::null_mut();
        // SAFETY: valid C string and out-pointer.
        check(unsafe { ffi::cvq_codebook_file_load_quantizer(self.handle, name.as_ptr(), &mut handle) })?;
        Ok(Quantizer { handle })
    }
}

impl Drop for CodebookFile {
    fn drop(&mut self) {
        // SAFETY: owned handle, freed once.
        unsafe { ffi::cvq_codebook_file_destroy(self.handle) }
    }
}

/// CVQ_PAIR_LAYOUT_* values.
pub const PAIR_LAYOUT_HALF: i32 = 1;
pub const PAIR_LAYOUT_INTERLEAVED: i32 = 2;

/// The attention shape of a cache.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CacheShape {
    pub num_layers: i32,
    pub num_heads: i32,
    pub num_kv_heads: i32,
    pub head_dim: i32,
    pub rope_theta: f64,
    pub pair_layout: i32,
}

/// Bytes a cache holds, by component.
pub type CacheMemory = ffi::cvq_cache_memory;

/// The KV cache of one sequence. It runs attention on the context's
/// threads, so it borrows the context.
pub struct Cache<'a> {
    handle: *mut c_void,
    shape: CacheShape,
    _context: PhantomData<&'a Context>,
}

// SAFETY: mutation needs &mut self; attend/length/memory may run
// concurrently per the C ABI.
unsafe impl Send for Cache<'_> {}
unsafe impl Sync for Cache<'_> {}

impl<'a> Cache<'a> {
    /// A full-precision cache.
    pub fn new(shape: CacheShape, context: Option<&'a Context>) -> Result<Cache<'a>> {
        Cache::with_storage(shape, "fp32", context)
    }

    /// A cache whose storage is given in the syntax of `commvq eval-ppl
    /// --cache`, e.g. "commvq:codebooks=FILE,window=128" or "kivi:bits=2".
    pub fn with_storage(shape: CacheShape, storage: &str, context: Option<&'a Context>) -> Result<Cache<'a>> {
        let storage = c_string(storage, "storage")?;
        let mut o: ffi::cvq_cache_options = struct_of();
        o.storage = storage.as_ptr();
        o.num_layers = shape.num_layers;
        o.num_heads = shape.num_heads;
        o.num_kv_heads = shape.num_kv_heads;
        o.head_dim = shape.head_dim;
        o.pair_layout = shape.pair_layout;
        o.rope_theta = shape.rope_theta;
        let mut handle = ptr::null_mut();
        // SAFETY: valid options and out-pointer.
        check(unsafe { ffi::cvq_cache_create(context_ptr(context), &o, &mut handle) })?;
        Ok(Cache { handle, shape, _context: PhantomData })
    }

    fn token_shape(&self, len: usize, heads: i32, what: &str) -> Result<[i64; 3]> {
        let row = heads as i64 * self.shape.head_dim as i64;
        Ok([rows(len, row, what)?, heads as i64, self.shape.head_dim as i64])
    }

    /// keys (pre-RoPE), values: [t, num_kv_heads, head_dim].
    pub fn append(&mut self, layer: i32, keys: &[f32], values: &[f32]) -> Result<()> {
        let ks = self.token_shape(keys.len(), self.shape.num_kv_heads, "keys")?;
        let vs = self.token_shape(values.len(), self.shape.num_kv_heads, "values")?;
        let (tk, tv) = (tensor(keys.as_ptr(), &ks), tensor(values.as_ptr(), &vs));
        // SAFETY: views of live slices; exclusive access through &mut self.
        check(unsafe { ffi::cvq_cache_append(self.handle, layer, &tk, &tv) })
    }

    pub fn truncate(&mut self, length: i64) -> Result<()> {
        // SAFETY: exclusive access through &mut self.
        check(unsafe { ffi::cvq_cache_truncate(self.handle, length) })
    }

    pub fn length(&self, layer: i32) -> Result<i64> {
        let mut n = 0;
        // SAFETY: valid out-pointer.
        check(unsafe { ffi::cvq_cache_length(self.handle, layer, &mut n) })?;
        Ok(n)
    }

    /// Bytes held, by component.
    pub fn memory(&self) -> Result<CacheMemory> {
        let mut m: CacheMemory = struct_of();
        // SAFETY: valid struct.
        check(unsafe { ffi::cvq_cache_memory_get(self.handle, &mut m) })?;
        Ok(m)
    }

    /// queries: [positions.len(), num_heads, head_dim] (pre-RoPE) ->
    /// attention outputs of the same shape.
    pub fn attend(&self, layer: i32, queries: &[f32], positions: &[i64]) -> Result<Vec<f32>> {
        let qs = self.token_shape(queries.len(), self.shape.num_heads, "queries")?;
        let mut out = vec![0f32; queries.len()];
        let (tq, to) = (tensor(queries.as_ptr(), &qs), tensor(out.as_mut_ptr() as *const f32, &qs));
        // SAFETY: views of live slices; positions has positions.len() items.
        check(unsafe {
            ffi::cvq_cache_attend(self.handle, layer, &tq, positions.as_ptr(), positions.len() as i64, &to)
        })?;
        Ok(out)
    }
}

impl Drop for Cache<'_> {
    fn drop(&mut self) {
        // SAFETY: owned handle, freed once.
        unsafe { ffi::cvq_cache_destroy(self.handle) }
    }
}
