package commvq

/*
#include <stdlib.h>
#include "commvq.h"
*/
import "C"

import "unsafe"

// CodebookFileInfo is the model shape a codebook file records.
type CodebookFileInfo struct {
	FormatVersion                            int
	ModelName                                string
	NumLayers, NumHeads, NumKVHeads, HeadDim int
	PairLayout                               int // PairLayoutHalf or PairLayoutInterleaved
	RopeTheta                                float64
	NumQuantizers                            int
}

// StoredQuantizer describes one quantizer of a codebook file.
type StoredQuantizer struct {
	Name  string
	Layer int
	Role  int // 0 unspecified, 1 key, 2 value
	Dim   int64
	Spec  string
}

// CodebookFile is a validated codebook file (.cvqcb); safe for concurrent
// use.
type CodebookFile struct {
	handle *C.cvq_codebook_file
}

// OpenCodebookFile opens and validates the file at path.
func OpenCodebookFile(path string) (*CodebookFile, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	f := &CodebookFile{}
	if err := check(C.cvq_codebook_file_open(cpath, &f.handle)); err != nil {
		return nil, err
	}
	return f, nil
}

// Info returns the model shape and the number of quantizers.
func (f *CodebookFile) Info() (CodebookFileInfo, error) {
	i := newStruct[C.cvq_codebook_file_info]()
	if err := check(C.cvq_codebook_file_info_get(f.handle, &i)); err != nil {
		return CodebookFileInfo{}, err
	}
	return CodebookFileInfo{int(i.format_version), C.GoString(i.model_name),
		int(i.num_layers), int(i.num_heads), int(i.num_kv_heads), int(i.head_dim),
		int(i.pair_layout), float64(i.rope_theta), int(i.num_quantizers)}, nil
}

// Quantizers lists the stored quantizers in file order.
func (f *CodebookFile) Quantizers() ([]StoredQuantizer, error) {
	info, err := f.Info()
	if err != nil {
		return nil, err
	}
	result := make([]StoredQuantizer, 0, info.NumQuantizers)
	for index := 0; index < info.NumQuantizers; index++ {
		q := newStruct[C.cvq_codebook_quantizer_info]()
		if err := check(C.cvq_codebook_file_quantizer(f.handle, C.uint32_t(index), &q)); err != nil {
			return nil, err
		}
		result = append(result, StoredQuantizer{C.GoString(q.name), int(q.layer),
			int(q.role), int64(q.dim), C.GoString(q.spec)})
	}
	return result, nil
}

// LoadQuantizer builds the quantizer stored under name, e.g. "layer.0.key".
func (f *CodebookFile) LoadQuantizer(name string) (*Quantizer, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var handle *C.cvq_quantizer
	if err := check(C.cvq_codebook_file_load_quantizer(f.handle, cname, &handle)); err != nil {
		return nil, err
	}
	return newQuantizer(handle)
}

// Close frees the file.
func (f *CodebookFile) Close() {
	C.cvq_codebook_file_destroy(f.handle)
	f.handle = nil
}
