// go-summary: the Go baseline of bench/derive.mjs. For each pprof file
// on the command line (gzip or raw protobuf) it times github.com/google/pprof's
// profile.Parse followed by summing every sample's values per sample type, on
// the raw protobuf (a gzip file is inflated once, before timing, so that both
// sides of the comparison see the same bytes), and prints one JSON line:
//
//	{"file":"…","bytes":N,"samples":N,"iterations":N,"ms_per_parse_and_sum":F,"sample_types":["cpu/nanoseconds",…],"totals":[…]}
//
// With -write-synthetic PATH it instead writes a reproducible Go-like CPU
// profile (uncompressed protobuf) of -samples samples and exits.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"time"

	"github.com/google/pprof/profile"
)

func main() {
	iterations := flag.Int("n", 0, "iterations per file; 0 = as many as fit in -min-ms (after 3 warm-up runs)")
	minMs := flag.Float64("min-ms", 300, "with -n 0: time each file for at least this many milliseconds")
	synthetic := flag.String("write-synthetic", "", "write a synthetic CPU profile to this path and exit")
	samples := flag.Int("samples", 40000, "samples of the -write-synthetic profile")
	flag.Parse()

	if *synthetic != "" {
		if err := writeSynthetic(*synthetic, *samples); err != nil {
			fatal(err)
		}
		return
	}
	if flag.NArg() == 0 {
		fatal(fmt.Errorf("usage: go-summary [-n N | -min-ms MS] file.pprof... | go-summary -write-synthetic out.pprof [-samples N]"))
	}
	enc := json.NewEncoder(os.Stdout)
	for _, file := range flag.Args() {
		r, err := measure(file, *iterations, *minMs)
		if err != nil {
			fatal(fmt.Errorf("%s: %w", file, err))
		}
		if err := enc.Encode(r); err != nil {
			fatal(err)
		}
	}
}

type result struct {
	File             string   `json:"file"`
	Bytes            int      `json:"bytes"` // raw protobuf
	Samples          int      `json:"samples"`
	Iterations       int      `json:"iterations"`
	MsPerParseAndSum float64  `json:"ms_per_parse_and_sum"`
	SampleTypes      []string `json:"sample_types"` // "type/unit"
	Totals           []int64  `json:"totals"`
}

func measure(file string, n int, minMs float64) (*result, error) {
	raw, err := readRaw(file)
	if err != nil {
		return nil, err
	}
	var p *profile.Profile
	var totals []int64
	once := func() error {
		p, err = profile.Parse(bytes.NewReader(raw))
		if err != nil {
			return err
		}
		totals = sum(p)
		return nil
	}
	runs := 0
	var elapsed time.Duration
	if n > 0 {
		start := time.Now()
		for ; runs < n; runs++ {
			if err := once(); err != nil {
				return nil, err
			}
		}
		elapsed = time.Since(start)
	} else {
		for i := 0; i < 3; i++ {
			if err := once(); err != nil {
				return nil, err
			}
		}
		budget := time.Duration(minMs * float64(time.Millisecond))
		start := time.Now()
		for elapsed < budget {
			if err := once(); err != nil {
				return nil, err
			}
			runs++
			elapsed = time.Since(start)
		}
	}
	types := make([]string, len(p.SampleType))
	for i, st := range p.SampleType {
		types[i] = st.Type + "/" + st.Unit
	}
	return &result{
		File: file, Bytes: len(raw), Samples: len(p.Sample), Iterations: runs,
		MsPerParseAndSum: float64(elapsed) / float64(time.Millisecond) / float64(runs),
		SampleTypes:      types, Totals: totals,
	}, nil
}

// sum adds up every sample's values per sample type.
func sum(p *profile.Profile) []int64 {
	totals := make([]int64, len(p.SampleType))
	for _, s := range p.Sample {
		for i, v := range s.Value {
			totals[i] += v
		}
	}
	return totals
}

// readRaw reads a pprof file, inflating it when it is gzip.
func readRaw(file string) ([]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
		return data, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// writeSynthetic writes a Go-like CPU profile: 1,500 functions in 40
// packages, 3,000 locations, n samples 8–31 frames deep with 1–3 hits each and
// two string labels (a unique span id, one of 50 endpoints). Like a real Go
// CPU profile it has the runtime's GC frames: about 6% of samples are a
// background mark worker (scanobject ← gcDrain ← gcBgMarkWorker ← goexit) and
// about 3% a mark assist on top of user frames (scanobject ← gcDrain ←
// gcAssistAlloc ← mallocgc ← …), so the GC-frame attribution has work to do.
// math/rand with a fixed seed makes the same bytes every time.
func writeSynthetic(path string, n int) error {
	r := rand.New(rand.NewSource(42))
	m := &profile.Mapping{ID: 1, Start: 0x400000, Limit: 0x900000, File: "/bin/svc"}
	fns := make([]*profile.Function, 1500)
	for i := range fns {
		id := i + 1
		fns[i] = &profile.Function{
			ID:       uint64(id),
			Name:     fmt.Sprintf("github.com/acme/svc/pkg%d.(*T%d).Method%d", id%40, id, id),
			Filename: fmt.Sprintf("/src/pkg%d/file%d.go", id%40, id%200),
		}
	}
	locs := make([]*profile.Location, 3000)
	for i := range locs {
		id := i + 1
		locs[i] = &profile.Location{
			ID: uint64(id), Mapping: m, Address: uint64(0x400000 + id*16),
			Line: []profile.Line{{Function: fns[id%len(fns)], Line: int64(10 + id%300)}},
		}
	}
	runtimeFn := func(id int, name string) *profile.Location {
		fn := &profile.Function{ID: uint64(id), Name: name, Filename: "/usr/local/go/src/runtime/mgc.go"}
		fns = append(fns, fn)
		loc := &profile.Location{ID: uint64(id), Mapping: m, Address: uint64(0x400000 + id*16), Line: []profile.Line{{Function: fn, Line: 100}}}
		locs = append(locs, loc)
		return loc
	}
	users := len(locs)
	goexit := runtimeFn(3001, "runtime.goexit")
	worker := runtimeFn(3002, "runtime.gcBgMarkWorker")
	drain := runtimeFn(3003, "runtime.gcDrain")
	scan := runtimeFn(3004, "runtime.scanobject")
	assist := runtimeFn(3005, "runtime.gcAssistAlloc")
	malloc := runtimeFn(3006, "runtime.mallocgc")
	ss := make([]*profile.Sample, n)
	for i := range ss {
		var stack []*profile.Location
		switch k := r.Intn(100); {
		case k < 6: // a background mark worker
			stack = []*profile.Location{scan, drain, worker, goexit}
		case k < 9: // a mark assist on top of user code
			stack = []*profile.Location{scan, drain, assist, malloc}
			for d := 4 + r.Intn(20); d > 0; d-- {
				stack = append(stack, locs[r.Intn(users)])
			}
		default:
			stack = make([]*profile.Location, 8+r.Intn(24))
			for d := range stack {
				stack[d] = locs[r.Intn(users)]
			}
		}
		hits := int64(1 + r.Intn(3))
		ss[i] = &profile.Sample{
			Location: stack,
			Value:    []int64{hits, hits * 10_000_000},
			Label: map[string][]string{
				"span id":        {fmt.Sprint(r.Int63n(1e12))},
				"trace endpoint": {fmt.Sprintf("GET /api/v%d", i%50)},
			},
		}
	}
	p := &profile.Profile{
		SampleType:    []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		Sample:        ss,
		Mapping:       []*profile.Mapping{m},
		Location:      locs,
		Function:      fns,
		TimeNanos:     1_700_000_000_000_000_000,
		DurationNanos: 60_000_000_000,
		PeriodType:    &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:        10_000_000,
	}
	if err := p.CheckValid(); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := p.WriteUncompressed(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "go-summary:", err)
	os.Exit(1)
}
