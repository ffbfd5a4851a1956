//! Tests of the Rust binding against values the C++ library computed
//! (capi/testdata/make_binding_expectations, via $COMMVQ_EXPECTATIONS) and
//! the golden codebook file ($COMMVQ_GOLDEN_CODEBOOK).

use commvq::{code, Cache, CacheShape, CodebookFile, Context, Quantizer};
use std::collections::HashMap;
use std::sync::Arc;

/// One record of the expectations file: its values as text.
struct Record {
    values: Vec<String>,
}

impl Record {
    fn f32s(&self) -> Vec<f32> {
        self.values.iter().map(|v| v.parse().unwrap()).collect()
    }
    fn u8s(&self) -> Vec<u8> {
        self.values.iter().map(|v| v.parse().unwrap()).collect()
    }
    fn int(&self) -> i64 {
        self.values[0].parse().unwrap()
    }
    fn str(&self) -> &str {
        &self.values[0]
    }
}

fn expectations() -> HashMap<String, Record> {
    let path = std::env::var("COMMVQ_EXPECTATIONS").expect("COMMVQ_EXPECTATIONS");
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let ndim: usize = fields[2].parse().unwrap();
            let values = fields[3 + ndim..].iter().map(|s| s.to_string()).collect();
            (fields[0].to_string(), Record { values })
        })
        .collect()
}

fn golden_path() -> String {
    std::env::var("COMMVQ_GOLDEN_CODEBOOK").expect("COMMVQ_GOLDEN_CODEBOOK")
}

fn train(e: &HashMap<String, Record>, context: Option<&Context>) -> Quantizer {
    Quantizer::train(e["train_spec"].str(), &e["samples"].f32s(), 8, e["train_seed"].int() as u64, context).unwrap()
}

#[test]
fn versions() {
    assert_eq!(commvq::abi_version(), commvq::ABI_VERSION);
    assert_eq!(commvq::version().split('.').count(), 3);
}

#[test]
fn struct_sizes_match_the_header() {
    use std::mem::size_of;
    assert_eq!(size_of::<commvq::ffi::cvq_tensor>(), 48);
    assert_eq!(size_of::<commvq::ffi::cvq_context_options>(), 32);
    assert_eq!(size_of::<commvq::ffi::cvq_quantizer_kind>(), 32);
    assert_eq!(size_of::<commvq::ffi::cvq_code_layout>(), 56);
    assert_eq!(size_of::<commvq::ffi::cvq_codebook_file_info>(), 48);
    assert_eq!(size_of::<commvq::ffi::cvq_codebook_quantizer_info>(), 40);
    assert_eq!(size_of::<commvq::ffi::cvq_cache_options>(), 40);
    assert_eq!(size_of::<commvq::ffi::cvq_cache_memory>(), 88);
}

#[test]
fn golden_codebook_encode_decode_matches_cpp() {
    let e = expectations();
    let file = CodebookFile::open(&golden_path()).unwrap();
    let info = file.info().unwrap();
    assert_eq!(info.model_name, "golden-model");
    assert_eq!((info.num_heads, info.num_kv_heads, info.head_dim), (4, 2, 4));
    let names: Vec<String> = file.quantizers().unwrap().into_iter().map(|q| q.name).collect();
    assert_eq!(names, vec!["layer.0.key", "layer.0.value"]);
    let q = file.load_quantizer(e["golden_name"].str()).unwrap();
    let (codes, side) = q.encode(&e["input"].f32s(), None).unwrap();
    assert_eq!(codes, e["golden_codes"].u8s());
    assert_eq!(side, e["golden_side"].u8s());
    assert_eq!(q.decode(&codes, &side, None).unwrap(), e["golden_decoded"].f32s());
}

#[test]
fn trained_quantizer_matches_cpp() {
    let e = expectations();
    let context = Context::new(2).unwrap();
    assert_eq!(context.num_threads().unwrap(), 2);
    let q = train(&e, Some(&context));
    assert_eq!(q.spec().unwrap(), e["train_canonical_spec"].str());
    let (codes, side) = q.encode(&e["input"].f32s(), Some(&context)).unwrap();
    assert_eq!(codes, e["train_codes"].u8s());
    assert_eq!(side, e["train_side"].u8s());
    assert_eq!(q.decode(&codes, &side, Some(&context)).unwrap(), e["train_decoded"].f32s());
    assert_eq!(q.stored_bytes(6).unwrap() as usize, codes.len() + side.len());
}

#[test]
fn serialize_round_trip_and_corruption() {
    let e = expectations();
    let q = train(&e, None);
    let mut bytes = q.serialize().unwrap();
    assert_eq!(bytes.len() as i64, e["train_serialized_size"].int());
    let copy = Quantizer::deserialize(&bytes).unwrap();
    assert_eq!(copy.encode(&e["input"].f32s(), None).unwrap().0, e["train_codes"].u8s());
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    let error = Quantizer::deserialize(&bytes).err().unwrap();
    assert_eq!(error.code, code::INVALID_ARGUMENT);
}

#[test]
fn quantizer_is_shared_across_threads() {
    let e = expectations();
    let q = Arc::new(train(&e, None));
    let input = Arc::new(e["input"].f32s());
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (q, input) = (Arc::clone(&q), Arc::clone(&input));
            std::thread::spawn(move || q.encode(&input, None).unwrap().0)
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), e["train_codes"].u8s());
    }
}

#[test]
fn errors_carry_code_and_message() {
    let file = CodebookFile::open(&golden_path()).unwrap();
    let error = file.load_quantizer("layer.7.key").err().unwrap();
    assert_eq!(error.code, code::NOT_FOUND);
    assert!(error.message.contains("layer.7.key"), "{}", error);
    let error = Context::with_backend("cuda", 1).err().unwrap();
    assert_eq!(error.code, code::UNAVAILABLE);
    let error = Quantizer::train("int:bits=99", &[], 8, 0, None).err().unwrap();
    assert_eq!(error.code, code::INVALID_ARGUMENT);
    assert!(error.message.contains("bits"), "{}", error);
    let q = Quantizer::train("fp16", &[], 8, 0, None).unwrap();
    let error = q.encode(&[0.0; 7], None).err().unwrap();
    assert_eq!(error.code, code::INVALID_ARGUMENT);
    assert_eq!(CodebookFile::open("no/such.cvqcb").err().unwrap().code, code::NOT_FOUND);
}

#[test]
fn registry_lists_builtin_kinds() {
    let kinds = commvq::quantizer_kinds().unwrap();
    assert!(kinds.iter().any(|k| k.name == "commvq_key"));
    assert!(kinds.iter().all(|k| !k.summary.is_empty()));
}

#[test]
fn codebook_file_cache_attends_what_it_decodes() {
    let shape = CacheShape {
        num_layers: 1,
        num_heads: 4,
        num_kv_heads: 2,
        head_dim: 4,
        rope_theta: 500000.0,
        pair_layout: commvq::PAIR_LAYOUT_HALF,
    };
    let keys: Vec<f32> = (0..64).map(|i| (0.7 * i as f32).sin()).collect();
    let values: Vec<f32> = (0..64).map(|i| (0.3 * i as f32).cos()).collect();
    let queries: Vec<f32> = (0..128).map(|i| (1.3 * i as f32 + 0.5).sin()).collect();
    let positions: Vec<i64> = (0..8).collect();
    let file = CodebookFile::open(&golden_path()).unwrap();
    let (kq, vq) = (file.load_quantizer("layer.0.key").unwrap(), file.load_quantizer("layer.0.value").unwrap());
    let (kc, ks) = kq.encode(&keys, None).unwrap();
    let (vc, vs) = vq.encode(&values, None).unwrap();
    let mut dense = Cache::new(shape, None).unwrap();
    dense.append(0, &kq.decode(&kc, &ks, None).unwrap(), &vq.decode(&vc, &vs, None).unwrap()).unwrap();
    let want = dense.attend(0, &queries, &positions).unwrap();
    let storage = format!("commvq:codebooks={},window=0", golden_path());
    let mut compressed = Cache::with_storage(shape, &storage, None).unwrap();
    compressed.append(0, &keys, &values).unwrap();
    let got = compressed.attend(0, &queries, &positions).unwrap();
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-4, "{} vs {}", g, w);
    }
    let memory = compressed.memory().unwrap();
    assert_eq!(memory.encoded_tokens, 8);
    assert!(memory.codes > 0);
    let error = Cache::with_storage(shape, "commvq", None).err().unwrap();
    assert_eq!(error.code, code::INVALID_ARGUMENT);
}

#[test]
fn cache_first_token_attends_to_itself() {
    let shape = CacheShape {
        num_layers: 1,
        num_heads: 4,
        num_kv_heads: 2,
        head_dim: 4,
        rope_theta: 10000.0,
        pair_layout: commvq::PAIR_LAYOUT_INTERLEAVED,
    };
    let context = Context::new(1).unwrap();
    let mut cache = Cache::new(shape, Some(&context)).unwrap();
    let keys: Vec<f32> = (0..24).map(|i| (i % 5) as f32 - 2.0).collect();
    let values: Vec<f32> = (0..24).map(|i| 0.25 * i as f32).collect();
    cache.append(0, &keys, &values).unwrap();
    assert_eq!(cache.length(0).unwrap(), 3);
    let queries: Vec<f32> = (0..16).map(|i| (i % 3) as f32).collect();
    let out = cache.attend(0, &queries, &[0]).unwrap();
    for h in 0..4 {
        for i in 0..4 {
            assert!((out[h * 4 + i] - values[(h / 2) * 4 + i]).abs() < 1e-6);
        }
    }
    let memory = cache.memory().unwrap();
    assert!(memory.kv_bytes >= 2 * 24 * 4);
    assert_eq!((memory.num_tokens, memory.encoded_tokens), (3, 0));
    cache.truncate(1).unwrap();
    assert_eq!(cache.length(0).unwrap(), 1);
    assert_eq!(cache.attend(0, &queries, &[2]).err().unwrap().code, code::INVALID_ARGUMENT);
}
