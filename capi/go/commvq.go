// Package commvq is the Go binding of the CommVQ C ABI (capi/commvq.h,
// libcommvq.so.1): KV-cache quantizers, codebook files and attention.
//
// Every handle has Close() (idempotent); every failed call returns an
// *Error carrying the library's status code and message. Slices are passed
// to the library without copies.
//
// Build with the library on the linker's path, e.g.
// CGO_LDFLAGS=-L/path/to/lib go build, and LD_LIBRARY_PATH at run time.
package commvq

/*
#cgo CFLAGS: -I${SRCDIR}/..
#cgo LDFLAGS: -lcommvq
#include <stdlib.h>
#include "commvq.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// ABIVersion is the C ABI version this package was written against.
const ABIVersion = 1

// Status codes (absl::StatusCode values).
const (
	InvalidArgument = 3
	NotFound        = 5
	AlreadyExists   = 6
	OutOfRange      = 11
	Unimplemented   = 12
	Unavailable     = 14
)

// Error is a failed call: the status code and the library's message.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("commvq error %d: %s", e.Code, e.Message)
}

// check converts a returned status (nil = success) and frees it.
func check(status *C.cvq_status) error {
	if status == nil {
		return nil
	}
	defer C.cvq_status_destroy(status)
	return &Error{
		Code:    int(C.cvq_status_code(status)),
		Message: C.GoString(C.cvq_status_message(status)),
	}
}

func argumentError(format string, args ...interface{}) error {
	return &Error{Code: InvalidArgument, Message: fmt.Sprintf(format, args...)}
}

// rows returns n for a slice of n rows of `row` elements.
func rows(length int, row int64, what string) (int64, error) {
	if row <= 0 || int64(length)%row != 0 {
		return 0, argumentError("%s has %d elements; expected a multiple of %d", what, length, row)
	}
	return int64(length) / row, nil
}

// AbiVersion is the ABI version of the loaded library.
func AbiVersion() int { return int(C.cvq_abi_version()) }

// Version is the library release, "MAJOR.MINOR.PATCH".
func Version() string { return C.GoString(C.cvq_version_string()) }

// QuantizerKind is one registered quantizer kind.
type QuantizerKind struct {
	Name, Summary, ExampleSpec string
}

func newStruct[T any]() T {
	var s T
	*(*C.uint32_t)(unsafe.Pointer(&s)) = C.uint32_t(unsafe.Sizeof(s))
	return s
}

// QuantizerKinds lists the registered quantizers, by name.
func QuantizerKinds() ([]QuantizerKind, error) {
	var count C.uint32_t
	if err := check(C.cvq_registry_count(&count)); err != nil {
		return nil, err
	}
	kinds := make([]QuantizerKind, 0, count)
	for i := C.uint32_t(0); i < count; i++ {
		kind := newStruct[C.cvq_quantizer_kind]()
		if err := check(C.cvq_registry_get(i, &kind)); err != nil {
			return nil, err
		}
		kinds = append(kinds, QuantizerKind{C.GoString(kind.name),
			C.GoString(kind.summary), C.GoString(kind.example_spec)})
	}
	return kinds, nil
}

// LoadPlugin loads the quantizer plugin at path (must contain a '/').
func LoadPlugin(path string) error {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	return check(C.cvq_plugin_load(cpath))
}

// Context holds the backend and the threads work runs on; it may be shared
// by concurrent calls.
type Context struct {
	handle *C.cvq_context
}

// NewContext makes a CPU context; numThreads 0 = all hardware threads.
func NewContext(numThreads int) (*Context, error) {
	return NewContextWithBackend("cpu", numThreads)
}

// NewContextWithBackend makes a context on "cpu" or "cuda".
func NewContextWithBackend(backend string, numThreads int) (*Context, error) {
	cbackend := C.CString(backend)
	defer C.free(unsafe.Pointer(cbackend))
	options := newStruct[C.cvq_context_options]()
	options.num_threads = C.int32_t(numThreads)
	options.backend = cbackend
	c := &Context{}
	if err := check(C.cvq_context_create(&options, &c.handle)); err != nil {
		return nil, err
	}
	return c, nil
}

// NumThreads is the number of threads the context runs work on.
func (c *Context) NumThreads() (int, error) {
	var n C.int32_t
	err := check(C.cvq_context_num_threads(c.handle, &n))
	return int(n), err
}

// Close frees the context; calls using it must have returned.
func (c *Context) Close() {
	C.cvq_context_destroy(c.handle)
	c.handle = nil
}

func contextHandle(c *Context) *C.cvq_context {
	if c == nil {
		return nil
	}
	return c.handle
}
