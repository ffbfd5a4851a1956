//! Raw declarations of capi/commvq.h (ABI 1). Layouts are asserted by
//! capi/layout_test.c and by this crate's tests.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_void};

#[repr(C)]
pub struct cvq_status {
    _private: [u8; 0],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct cvq_tensor {
    pub struct_size: u32,
    pub dtype_code: u8,
    pub dtype_bits: u8,
    pub dtype_lanes: u16,
    pub device_type: i32,
    pub device_id: i32,
    pub ndim: i32,
    pub reserved: u32,
    pub data: *mut c_void,
    pub shape: *const i64,
    pub strides: *const i64,
}

#[repr(C)]
pub struct cvq_context_options {
    pub struct_size: u32,
    pub num_threads: i32,
    pub backend: *const c_char,
    pub device_id: i32,
    pub reserved: u32,
    pub stream: *mut c_void,
}

#[repr(C)]
pub struct cvq_quantizer_kind {
    pub struct_size: u32,
    pub reserved: u32,
    pub name: *const c_char,
    pub summary: *const c_char,
    pub example_spec: *const c_char,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct cvq_code_layout {
    pub struct_size: u32,
    pub reserved: u32,
    pub dim: i64,
    pub code_bits: i64,
    pub code_bytes: i64,
    pub side_bytes: i64,
    pub block_vectors: i64,
    pub parameter_bytes: i64,
}

#[repr(C)]
pub struct cvq_codebook_file_info {
    pub struct_size: u32,
    pub format_version: u32,
    pub num_layers: i32,
    pub num_heads: i32,
    pub num_kv_heads: i32,
    pub head_dim: i32,
    pub pair_layout: i32,
    pub num_quantizers: u32,
    pub rope_theta: f64,
    pub model_name: *const c_char,
}

#[repr(C)]
pub struct cvq_codebook_quantizer_info {
    pub struct_size: u32,
    pub layer: i32,
    pub role: i32,
    pub reserved: u32,
    pub dim: i64,
    pub name: *const c_char,
    pub spec: *const c_char,
}

#[repr(C)]
pub struct cvq_cache_options {
    pub struct_size: u32,
    pub num_layers: i32,
    pub num_heads: i32,
    pub num_kv_heads: i32,
    pub head_dim: i32,
    pub pair_layout: i32,
    pub rope_theta: f64,
    pub storage: *const c_char,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct cvq_cache_memory {
    pub struct_size: u32,
    pub reserved: u32,
    pub num_tokens: i64,
    pub encoded_tokens: i64,
    pub kv_bytes: i64,
    pub codes: i64,
    pub side: i64,
    pub full_precision: i64,
    pub page_slack: i64,
    pub codebooks: i64,
    pub rope_table: i64,
    pub workspace: i64,
}

/// Opaque handles.
pub type Handle = c_void;
pub type Status = *mut cvq_status;

extern "C" {
    pub fn cvq_abi_version() -> u32;
    pub fn cvq_version_string() -> *const c_char;
    pub fn cvq_status_code(status: *const cvq_status) -> i32;
    pub fn cvq_status_message(status: *const cvq_status) -> *const c_char;
    pub fn cvq_status_destroy(status: *mut cvq_status);

    pub fn cvq_context_create(options: *const cvq_context_options, out: *mut *mut Handle) -> Status;
    pub fn cvq_context_destroy(context: *mut Handle);
    pub fn cvq_context_num_threads(context: *const Handle, n: *mut i32) -> Status;

    pub fn cvq_registry_count(count: *mut u32) -> Status;
    pub fn cvq_registry_get(index: u32, kind: *mut cvq_quantizer_kind) -> Status;
    pub fn cvq_plugin_load(path: *const c_char) -> Status;

    pub fn cvq_quantizer_train(
        context: *mut Handle,
        spec: *const c_char,
        samples: *const cvq_tensor,
        seed: u64,
        out: *mut *mut Handle,
    ) -> Status;
    pub fn cvq_quantizer_deserialize(bytes: *const u8, size: usize, out: *mut *mut Handle) -> Status;
    pub fn cvq_quantizer_serialize(q: *const Handle, buffer: *mut u8, capacity: usize, size: *mut usize) -> Status;
    pub fn cvq_quantizer_destroy(q: *mut Handle);
    pub fn cvq_quantizer_spec(q: *const Handle, spec: *mut *const c_char) -> Status;
    pub fn cvq_quantizer_layout(q: *const Handle, layout: *mut cvq_code_layout) -> Status;
    pub fn cvq_quantizer_stored_bytes(q: *const Handle, n: i64, bytes: *mut i64) -> Status;
    pub fn cvq_quantizer_encode(
        context: *mut Handle,
        q: *const Handle,
        input: *const cvq_tensor,
        codes: *const cvq_tensor,
        side: *const cvq_tensor,
    ) -> Status;
    pub fn cvq_quantizer_decode(
        context: *mut Handle,
        q: *const Handle,
        codes: *const cvq_tensor,
        side: *const cvq_tensor,
        output: *const cvq_tensor,
    ) -> Status;

    pub fn cvq_codebook_file_open(path: *const c_char, out: *mut *mut Handle) -> Status;
    pub fn cvq_codebook_file_destroy(file: *mut Handle);
    pub fn cvq_codebook_file_info_get(file: *const Handle, info: *mut cvq_codebook_file_info) -> Status;
    pub fn cvq_codebook_file_quantizer(
        file: *const Handle,
        index: u32,
        info: *mut cvq_codebook_quantizer_info,
    ) -> Status;
    pub fn cvq_codebook_file_load_quantizer(file: *const Handle, name: *const c_char, out: *mut *mut Handle) -> Status;

    pub fn cvq_cache_create(context: *mut Handle, options: *const cvq_cache_options, out: *mut *mut Handle) -> Status;
    pub fn cvq_cache_destroy(cache: *mut Handle);
    pub fn cvq_cache_append(cache: *mut Handle, layer: i32, keys: *const cvq_tensor, values: *const cvq_tensor) -> Status;
    pub fn cvq_cache_truncate(cache: *mut Handle, length: i64) -> Status;
    pub fn cvq_cache_length(cache: *const Handle, layer: i32, length: *mut i64) -> Status;
    pub fn cvq_cache_memory_get(cache: *const Handle, memory: *mut cvq_cache_memory) -> Status;
    pub fn cvq_cache_attend(
        cache: *const Handle,
        layer: i32,
        queries: *const cvq_tensor,
        positions: *const i64,
        num_positions: i64,
        out: *const cvq_tensor,
    ) -> Status;
}
