package commvq

import (
	"bufio"
	"errors"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Tests of the Go binding against values the C++ library computed
// (capi/testdata/make_binding_expectations, via $COMMVQ_EXPECTATIONS) and
// the golden codebook file ($COMMVQ_GOLDEN_CODEBOOK).

type record []string

func (r record) f32s(t *testing.T) []float32 {
	out := make([]float32, len(r))
	for i, v := range r {
		x, err := strconv.ParseFloat(v, 32)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = float32(x)
	}
	return out
}

func (r record) bytes(t *testing.T) []byte {
	out := make([]byte, len(r))
	for i, v := range r {
		x, err := strconv.ParseUint(v, 10, 8)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = byte(x)
	}
	return out
}

func (r record) int(t *testing.T) int64 {
	x, err := strconv.ParseInt(r[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func expectations(t *testing.T) map[string]record {
	f, err := os.Open(os.Getenv("COMMVQ_EXPECTATIONS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records := map[string]record{}
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		ndim, _ := strconv.Atoi(fields[2])
		records[fields[0]] = fields[3+ndim:]
	}
	return records
}

func codeOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return -1
}

func train(t *testing.T, e map[string]record, ctx *Context) *Quantizer {
	q, err := Train(e["train_spec"][0], e["samples"].f32s(t), 8, uint64(e["train_seed"].int(t)), ctx)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestVersions(t *testing.T) {
	if AbiVersion() != ABIVersion {
		t.Errorf("AbiVersion() = %d, want %d", AbiVersion(), ABIVersion)
	}
	if len(strings.Split(Version(), ".")) != 3 {
		t.Errorf("Version() = %q", Version())
	}
}

func TestGoldenCodebookMatchesCpp(t *testing.T) {
	e := expectations(t)
	f, err := OpenCodebookFile(os.Getenv("COMMVQ_GOLDEN_CODEBOOK"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, err := f.Info()
	if err != nil || info.ModelName != "golden-model" || info.NumKVHeads != 2 || info.PairLayout != PairLayoutHalf {
		t.Fatalf("Info() = %+v, %v", info, err)
	}
	stored, err := f.Quantizers()
	if err != nil || len(stored) != 2 || stored[0].Name != "layer.0.key" || stored[0].Role != 1 {
		t.Fatalf("Quantizers() = %+v, %v", stored, err)
	}
	q, err := f.LoadQuantizer(e["golden_name"][0])
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	codes, side, err := q.Encode(e["input"].f32s(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(codes, e["golden_codes"].bytes(t)) || !reflect.DeepEqual(side, e["golden_side"].bytes(t)) {
		t.Errorf("codes %v side %v differ from C++", codes, side)
	}
	decoded, err := q.Decode(codes, side, nil)
	if err != nil || !reflect.DeepEqual(decoded, e["golden_decoded"].f32s(t)) {
		t.Errorf("Decode() = %v, %v; want %v", decoded, err, e["golden_decoded"].f32s(t))
	}
}

func TestTrainedQuantizerMatchesCpp(t *testing.T) {
	e := expectations(t)
	ctx, err := NewContext(2)
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	if n, _ := ctx.NumThreads(); n != 2 {
		t.Errorf("NumThreads() = %d", n)
	}
	q := train(t, e, ctx)
	defer q.Close()
	if spec, _ := q.Spec(); spec != e["train_canonical_spec"][0] {
		t.Errorf("Spec() = %q", spec)
	}
	codes, side, err := q.Encode(e["input"].f32s(t), ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(codes, e["train_codes"].bytes(t)) || !reflect.DeepEqual(side, e["train_side"].bytes(t)) {
		t.Errorf("codes %v side %v differ from C++", codes, side)
	}
	decoded, err := q.Decode(codes, side, ctx)
	if err != nil || !reflect.DeepEqual(decoded, e["train_decoded"].f32s(t)) {
		t.Errorf("Decode() = %v, %v", decoded, err)
	}
	if b, _ := q.StoredBytes(6); b != int64(len(codes)+len(side)) {
		t.Errorf("StoredBytes(6) = %d", b)
	}
}

func TestSerializeRoundTrip(t *testing.T) {
	e := expectations(t)
	q := train(t, e, nil)
	defer q.Close()
	data, err := q.Serialize()
	if err != nil || int64(len(data)) != e["train_serialized_size"].int(t) {
		t.Fatalf("Serialize() = %d bytes, %v", len(data), err)
	}
	copy, err := Deserialize(data)
	if err != nil {
		t.Fatal(err)
	}
	defer copy.Close()
	codes, _, err := copy.Encode(e["input"].f32s(t), nil)
	if err != nil || !reflect.DeepEqual(codes, e["train_codes"].bytes(t)) {
		t.Errorf("deserialized codes %v, %v", codes, err)
	}
	data[len(data)/2] ^= 0xff
	if _, err := Deserialize(data); codeOf(err) != InvalidArgument {
		t.Errorf("corrupt bytes: %v", err)
	}
}

func TestConcurrentEncode(t *testing.T) {
	e := expectations(t)
	q := train(t, e, nil)
	defer q.Close()
	input, want := e["input"].f32s(t), e["train_codes"].bytes(t)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes, _, err := q.Encode(input, nil)
			if err != nil || !reflect.DeepEqual(codes, want) {
				t.Errorf("concurrent Encode() = %v, %v", codes, err)
			}
		}()
	}
	wg.Wait()
}

func TestErrors(t *testing.T) {
	f, err := OpenCodebookFile(os.Getenv("COMMVQ_GOLDEN_CODEBOOK"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = f.LoadQuantizer("layer.7.key")
	if codeOf(err) != NotFound || !strings.Contains(err.Error(), "layer.7.key") {
		t.Errorf("LoadQuantizer(missing) = %v", err)
	}
	if _, err := NewContextWithBackend("cuda", 1); codeOf(err) != Unavailable {
		t.Errorf("cuda context: %v", err)
	}
	_, err = Train("int:bits=99", nil, 8, 0, nil)
	if codeOf(err) != InvalidArgument || !strings.Contains(err.Error(), "bits") {
		t.Errorf("bad spec: %v", err)
	}
	q, err := Train("fp16", nil, 8, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, _, err := q.Encode(make([]float32, 7), nil); codeOf(err) != InvalidArgument {
		t.Errorf("wrong input size: %v", err)
	}
	if _, err := OpenCodebookFile("no/such.cvqcb"); codeOf(err) != NotFound {
		t.Errorf("missing file: %v", err)
	}
}

func TestQuantizerKinds(t *testing.T) {
	kinds, err := QuantizerKinds()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, k := range kinds {
		found = found || k.Name == "commvq_key"
	}
	if !found {
		t.Errorf("commvq_key not in %+v", kinds)
	}
}

func TestCacheFirstTokenAttendsToItself(t *testing.T) {
	c, err := NewCache(CacheShape{NumLayers: 1, NumHeads: 4, NumKVHeads: 2, HeadDim: 4,
		RopeTheta: 10000, PairLayout: PairLayoutInterleaved}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	keys, values := make([]float32, 24), make([]float32, 24)
	for i := range keys {
		keys[i], values[i] = float32(i%5)-2, 0.25*float32(i)
	}
	if err := c.Append(0, keys, values); err != nil {
		t.Fatal(err)
	}
	queries := make([]float32, 16)
	for i := range queries {
		queries[i] = float32(i % 3)
	}
	out, err := c.Attend(0, queries, []int64{0})
	if err != nil {
		t.Fatal(err)
	}
	for h := 0; h < 4; h++ {
		for i := 0; i < 4; i++ {
			if math.Abs(float64(out[h*4+i]-values[(h/2)*4+i])) > 1e-6 {
				t.Errorf("out[%d][%d] = %v, want %v", h, i, out[h*4+i], values[(h/2)*4+i])
			}
		}
	}
	if n, _ := c.Length(0); n != 3 {
		t.Errorf("Length(0) = %d", n)
	}
	if m, _ := c.Memory(); m.KVBytes < 2*24*4 || m.NumTokens != 3 || m.EncodedTokens != 0 {
		t.Errorf("Memory() = %+v", m)
	}
	if err := c.Truncate(1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Attend(0, queries, []int64{2}); codeOf(err) != InvalidArgument {
		t.Errorf("attend past the end: %v", err)
	}
}

func TestCodebookFileCacheAttendsWhatItDecodes(t *testing.T) {
	golden := os.Getenv("COMMVQ_GOLDEN_CODEBOOK")
	shape := CacheShape{NumLayers: 1, NumHeads: 4, NumKVHeads: 2, HeadDim: 4,
		RopeTheta: 500000, PairLayout: PairLayoutHalf}
	keys, values, queries := make([]float32, 64), make([]float32, 64), make([]float32, 128)
	for i := range keys {
		keys[i], values[i] = float32(math.Sin(0.7*float64(i))), float32(math.Cos(0.3*float64(i)))
	}
	for i := range queries {
		queries[i] = float32(math.Sin(1.3*float64(i) + 0.5))
	}
	positions := []int64{0, 1, 2, 3, 4, 5, 6, 7}
	f, err := OpenCodebookFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	decoded := func(name string, x []float32) []float32 {
		q, err := f.LoadQuantizer(name)
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		codes, side, err := q.Encode(x, nil)
		if err != nil {
			t.Fatal(err)
		}
		y, err := q.Decode(codes, side, nil)
		if err != nil {
			t.Fatal(err)
		}
		return y
	}
	attend := func(storage string, k, v []float32) ([]float32, CacheMemory) {
		c, err := NewCache(shape, storage, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Append(0, k, v); err != nil {
			t.Fatal(err)
		}
		out, err := c.Attend(0, queries, positions)
		if err != nil {
			t.Fatal(err)
		}
		m, err := c.Memory()
		if err != nil {
			t.Fatal(err)
		}
		return out, m
	}
	want, _ := attend("fp32", decoded("layer.0.key", keys), decoded("layer.0.value", values))
	got, memory := attend("commvq:codebooks="+golden+",window=0", keys, values)
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-4 {
			t.Fatalf("out[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	if memory.EncodedTokens != 8 || memory.Codes == 0 {
		t.Errorf("Memory() = %+v", memory)
	}
	if _, err := NewCache(shape, "commvq", nil); codeOf(err) != InvalidArgument {
		t.Errorf("bad storage: %v", err)
	}
}
