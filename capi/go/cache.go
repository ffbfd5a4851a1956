package commvq

/*
#include <stdlib.h>
#include "tensors.h"
*/
import "C"

import "unsafe"

// RoPE channel pairings (CVQ_PAIR_LAYOUT_*).
const (
	PairLayoutHalf        = 1
	PairLayoutInterleaved = 2
)

// CacheShape is the attention shape of a cache.
type CacheShape struct {
	NumLayers, NumHeads, NumKVHeads, HeadDim int
	RopeTheta                                float64
	PairLayout                               int
}

// Cache is the KV cache of one sequence. Append and Truncate need exclusive
// access; Attend, Length and Memory may run concurrently.
type Cache struct {
	handle *C.cvq_cache
	shape  CacheShape
	ctx    *Context // attention runs on its threads: kept reachable
}

// NewCache makes an empty cache; ctx may be nil and must outlive the cache.
// storage is "" or "fp32" (full precision) or a compressed cache in the
// syntax of `commvq eval-ppl --cache`, e.g.
// "commvq:codebooks=FILE,window=128" or "kivi:bits=2".
func NewCache(shape CacheShape, storage string, ctx *Context) (*Cache, error) {
	o := newStruct[C.cvq_cache_options]()
	if storage != "" {
		cstorage := C.CString(storage)
		defer C.free(unsafe.Pointer(cstorage))
		o.storage = cstorage
	}
	o.num_layers = C.int32_t(shape.NumLayers)
	o.num_heads = C.int32_t(shape.NumHeads)
	o.num_kv_heads = C.int32_t(shape.NumKVHeads)
	o.head_dim = C.int32_t(shape.HeadDim)
	o.pair_layout = C.int32_t(shape.PairLayout)
	o.rope_theta = C.double(shape.RopeTheta)
	c := &Cache{shape: shape, ctx: ctx}
	if err := check(C.cvq_cache_create(contextHandle(ctx), &o, &c.handle)); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cache) tokens(s []float32, heads int, what string) (int64, error) {
	return rows(len(s), int64(heads*c.shape.HeadDim), what)
}

// Append adds t tokens: keys (pre-RoPE) and values [t, NumKVHeads, HeadDim].
func (c *Cache) Append(layer int, keys, values []float32) error {
	kt, err := c.tokens(keys, c.shape.NumKVHeads, "keys")
	if err != nil {
		return err
	}
	vt, err := c.tokens(values, c.shape.NumKVHeads, "values")
	if err != nil {
		return err
	}
	return check(C.go_cache_append(c.handle, C.int32_t(layer), f32Ptr(keys), C.int64_t(kt),
		f32Ptr(values), C.int64_t(vt), C.int64_t(c.shape.NumKVHeads), C.int64_t(c.shape.HeadDim)))
}

// Truncate drops every token at position >= length.
func (c *Cache) Truncate(length int64) error {
	return check(C.cvq_cache_truncate(c.handle, C.int64_t(length)))
}

// Length is the number of tokens cached for layer.
func (c *Cache) Length(layer int) (int64, error) {
	var n C.int64_t
	err := check(C.cvq_cache_length(c.handle, C.int32_t(layer), &n))
	return int64(n), err
}

// CacheMemory is what a cache holds, by component (bytes, except the token
// counts).
type CacheMemory struct {
	NumTokens, EncodedTokens, KVBytes, Codes, Side, FullPrecision int64
	PageSlack, Codebooks, RopeTable, Workspace                    int64
}

// Memory reports the bytes the cache holds.
func (c *Cache) Memory() (CacheMemory, error) {
	m := newStruct[C.cvq_cache_memory]()
	if err := check(C.cvq_cache_memory_get(c.handle, &m)); err != nil {
		return CacheMemory{}, err
	}
	return CacheMemory{int64(m.num_tokens), int64(m.encoded_tokens), int64(m.kv_bytes),
		int64(m.codes), int64(m.side), int64(m.full_precision), int64(m.page_slack),
		int64(m.codebooks), int64(m.rope_table), int64(m.workspace)}, nil
}

// Attend runs causal attention of queries ([len(positions), NumHeads,
// HeadDim], pre-RoPE) and returns outputs of the same shape.
func (c *Cache) Attend(layer int, queries []float32, positions []int64) ([]float32, error) {
	qt, err := c.tokens(queries, c.shape.NumHeads, "queries")
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(positions)*c.shape.NumHeads*c.shape.HeadDim)
	if err := check(C.go_cache_attend(c.handle, C.int32_t(layer), f32Ptr(queries), C.int64_t(qt),
		C.int64_t(c.shape.NumHeads), C.int64_t(c.shape.HeadDim), i64Ptr(positions),
		C.int64_t(len(positions)), f32Ptr(out))); err != nil {
		return nil, err
	}
	return out, nil
}

// Close frees the cache.
func (c *Cache) Close() {
	C.cvq_cache_destroy(c.handle)
	c.handle = nil
}
