package commvq

/*
#include <stdlib.h>
#include "tensors.h"
*/
import "C"

import "unsafe"

// Layout says how encoded vectors are laid out: codes [n, CodeBytes],
// side [n / BlockVectors, SideBytes].
type Layout struct {
	Dim, CodeBits, CodeBytes, SideBytes, BlockVectors, ParameterBytes int64
}

// Quantizer is a trained, immutable quantizer; safe for concurrent use.
type Quantizer struct {
	handle *C.cvq_quantizer
	layout Layout
}

func newQuantizer(handle *C.cvq_quantizer) (*Quantizer, error) {
	q := &Quantizer{handle: handle}
	l := newStruct[C.cvq_code_layout]()
	if err := check(C.cvq_quantizer_layout(handle, &l)); err != nil {
		q.Close()
		return nil, err
	}
	q.layout = Layout{int64(l.dim), int64(l.code_bits), int64(l.code_bytes),
		int64(l.side_bytes), int64(l.block_vectors), int64(l.parameter_bytes)}
	return q, nil
}

// Train trains the quantizer spec describes on samples ([n, dim]
// row-major; n may be 0 for kinds without trained parameters). ctx may be
// nil.
func Train(spec string, samples []float32, dim int64, seed uint64, ctx *Context) (*Quantizer, error) {
	n, err := rows(len(samples), dim, "samples")
	if err != nil {
		return nil, err
	}
	cspec := C.CString(spec)
	defer C.free(unsafe.Pointer(cspec))
	var handle *C.cvq_quantizer
	if err := check(C.go_train(contextHandle(ctx), cspec, f32Ptr(samples), C.int64_t(n),
		C.int64_t(dim), C.uint64_t(seed), &handle)); err != nil {
		return nil, err
	}
	return newQuantizer(handle)
}

// Deserialize rebuilds a quantizer from Serialize bytes.
func Deserialize(data []byte) (*Quantizer, error) {
	var handle *C.cvq_quantizer
	if err := check(C.cvq_quantizer_deserialize(u8Ptr(data), C.size_t(len(data)), &handle)); err != nil {
		return nil, err
	}
	return newQuantizer(handle)
}

// Serialize returns the quantizer's self-describing bytes.
func (q *Quantizer) Serialize() ([]byte, error) {
	var size C.size_t
	if err := check(C.cvq_quantizer_serialize(q.handle, nil, 0, &size)); err != nil {
		return nil, err
	}
	data := make([]byte, size)
	if err := check(C.cvq_quantizer_serialize(q.handle, u8Ptr(data), size, &size)); err != nil {
		return nil, err
	}
	return data[:size], nil
}

// Spec is the canonical spec.
func (q *Quantizer) Spec() (string, error) {
	var spec *C.char
	err := check(C.cvq_quantizer_spec(q.handle, &spec))
	return C.GoString(spec), err
}

// Layout of the encoded form.
func (q *Quantizer) Layout() Layout { return q.layout }

// StoredBytes is what numVectors encoded vectors take.
func (q *Quantizer) StoredBytes(numVectors int64) (int64, error) {
	var bytes C.int64_t
	err := check(C.cvq_quantizer_stored_bytes(q.handle, C.int64_t(numVectors), &bytes))
	return int64(bytes), err
}

// sideRows: rows of a side buffer (n / BlockVectors when there is no side
// data); the library checks them against n.
func (q *Quantizer) sideRows(side []byte, n int64) (int64, error) {
	if q.layout.SideBytes == 0 {
		return n / q.layout.BlockVectors, nil
	}
	return rows(len(side), q.layout.SideBytes, "side")
}

// EncodeInto encodes input ([n, Dim]) into codes and side buffers.
func (q *Quantizer) EncodeInto(input []float32, codes, side []byte, ctx *Context) error {
	l := q.layout
	n, err := rows(len(input), l.Dim, "input")
	if err != nil {
		return err
	}
	codeRows, err := rows(len(codes), l.CodeBytes, "codes")
	if err != nil {
		return err
	}
	sideRows, err := q.sideRows(side, n)
	if err != nil {
		return err
	}
	return check(C.go_encode(contextHandle(ctx), q.handle, f32Ptr(input), C.int64_t(n),
		C.int64_t(l.Dim), u8Ptr(codes), C.int64_t(codeRows), C.int64_t(l.CodeBytes),
		u8Ptr(side), C.int64_t(sideRows), C.int64_t(l.SideBytes)))
}

// Encode encodes input ([n, Dim]) and returns codes and side data.
func (q *Quantizer) Encode(input []float32, ctx *Context) (codes, side []byte, err error) {
	l := q.layout
	n, err := rows(len(input), l.Dim, "input")
	if err != nil {
		return nil, nil, err
	}
	codes = make([]byte, n*l.CodeBytes)
	side = make([]byte, n/l.BlockVectors*l.SideBytes)
	if err := q.EncodeInto(input, codes, side, ctx); err != nil {
		return nil, nil, err
	}
	return codes, side, nil
}

// Decode turns codes and side data from Encode back into [n, Dim] floats.
func (q *Quantizer) Decode(codes, side []byte, ctx *Context) ([]float32, error) {
	l := q.layout
	n, err := rows(len(codes), l.CodeBytes, "codes")
	if err != nil {
		return nil, err
	}
	sideRows, err := q.sideRows(side, n)
	if err != nil {
		return nil, err
	}
	out := make([]float32, n*l.Dim)
	if err := check(C.go_decode(contextHandle(ctx), q.handle, u8Ptr(codes), C.int64_t(n),
		C.int64_t(l.CodeBytes), u8Ptr(side), C.int64_t(sideRows), C.int64_t(l.SideBytes),
		f32Ptr(out), C.int64_t(l.Dim))); err != nil {
		return nil, err
	}
	return out, nil
}

// Close frees the quantizer.
func (q *Quantizer) Close() {
	C.cvq_quantizer_destroy(q.handle)
	q.handle = nil
}
