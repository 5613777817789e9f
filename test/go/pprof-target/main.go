// pprof-target: a stdlib-only Go program with known, flag-controlled
// behaviour, serving net/http/pprof on http.DefaultServeMux. End-to-end tests
// scrape it and assert the resulting metrics within bounds. The work and the
// process plumbing it shares with the ddtrace demos are in profcol.test/workload
// (../workload, stdlib only); -gc-heavy, /debug/target and the HTTP server are
// its own.
//
// Startup contract: once the listener is bound and every worker is running,
// exactly ONE line of JSON is printed to stdout:
//
//	{"ready":true,"addr":"127.0.0.1:PORT","pid":N,"baseline_goroutines":B,...}
//
// Goroutines: B counts every goroutine of the process (main = HTTP accept
// loop, watchdog, workers) except the -parked ones, so right after startup
// runtime.NumGoroutine() == B + parked. A scrape adds its own connection
// goroutine(s) (+1..+3 while the request is served; idle keep-alive
// connections add one each).
//
// Function names that tests can look for in stacks (all in package main):
// spinWorker, allocWorker, gcChurnWorker, mutexWorker, blockProducer,
// blockConsumer, parkedWorker, retainHeap (and parentWatchdog).
package main

import (
	"encoding/json"
	"flag"
	"math/rand"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"profcol.test/workload"
)

var (
	// gcAnchors + gcLive are the pointer-rich live heap of -gc-heavy.
	gcAnchors []*gcNode
	gcLive    []*gcNode

	gcSink         atomic.Pointer[gcNode] // defeats dead-code elimination
	gcChurnObjects atomic.Uint64          // exposed on /debug/target

	startTime = time.Now()
)

type gcNode struct {
	left, right, up *gcNode
	payload         [5]uintptr
}

type config struct {
	Addr           string  `json:"addr"`
	Spin           int     `json:"spin"`
	Parked         int     `json:"parked"`
	RetainMiB      int     `json:"retain_mib"`
	RetainChunkKiB int     `json:"retain_chunk_kib"`
	AllocMiBPerSec float64 `json:"alloc_mib_per_sec"`
	GCHeavy        bool    `json:"gc_heavy"`
	GCHeavyLiveMiB int     `json:"gc_heavy_live_mib"`
	Mutex          bool    `json:"mutex"`
	Block          bool    `json:"block"`
	ExitWithParent bool    `json:"exit_with_parent"`
}

func main() {
	var cfg config
	p := workload.NewProcess("pprof-target")
	flag.StringVar(&cfg.Addr, "addr", "127.0.0.1:6060", "listen address; port 0 picks a free port (reported in the ready line)")
	flag.IntVar(&cfg.Spin, "spin", 0, "number of goroutines busy-spinning on a core each (≈N cores of CPU)")
	flag.IntVar(&cfg.Parked, "parked", 0, "number of extra goroutines parked forever on a channel")
	flag.IntVar(&cfg.RetainMiB, "retain-mib", 0, "MiB of heap allocated at startup and kept reachable (pages touched)")
	flag.IntVar(&cfg.RetainChunkKiB, "retain-chunk-kib", 4096, "chunk size for -retain-mib; ≥2 MiB makes the 512 KiB-sampled heap profile ≈exact")
	flag.Float64Var(&cfg.AllocMiBPerSec, "alloc-mib-per-sec", 0, "steady garbage allocation rate (small/medium objects, discarded)")
	flag.BoolVar(&cfg.GCHeavy, "gc-heavy", false, "force heavy GC: GOGC=10, pointer-rich live heap, a goroutine churning pointer objects")
	flag.IntVar(&cfg.GCHeavyLiveMiB, "gc-heavy-live-mib", 32, "approximate live pointer heap built by -gc-heavy")
	flag.BoolVar(&cfg.Mutex, "mutex", true, "4 goroutines contend on one sync.Mutex; SetMutexProfileFraction(1)")
	flag.BoolVar(&cfg.Block, "block", true, "goroutines block on channels; SetBlockProfileRate(1)")
	flag.Parse()
	cfg.ExitWithParent = p.ExitWithParent()

	if cfg.Spin < 0 || cfg.Parked < 0 || cfg.RetainMiB < 0 || cfg.AllocMiBPerSec < 0 || cfg.RetainChunkKiB <= 0 {
		p.Fatalf("negative/zero flag value")
	}
	p.ScheduleExit()

	if cfg.Mutex {
		runtime.SetMutexProfileFraction(1)
	}
	if cfg.Block {
		runtime.SetBlockProfileRate(1)
	}
	if cfg.GCHeavy {
		debug.SetGCPercent(10)
	}

	// Heap set-up first, then two full GCs so the published heap profile
	// (which lags up to two cycles) already contains the retained bytes.
	w := &workload.Workers{Frames: workload.Frames{
		ParentWatchdog: parentWatchdog, RetainHeap: retainHeap, SpinWorker: spinWorker, AllocWorker: allocWorker,
		MutexWorker: mutexWorker, BlockProducer: blockProducer, BlockConsumer: blockConsumer, ParkedWorker: parkedWorker,
	}}
	w.RetainHeap(cfg.RetainMiB, cfg.RetainChunkKiB)
	if cfg.GCHeavy {
		buildGCLiveHeap(cfg.GCHeavyLiveMiB)
	}
	runtime.GC()
	runtime.GC()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		p.Fatalf("listen %s: %v", cfg.Addr, err)
	}

	http.HandleFunc("/debug/target", func(rw http.ResponseWriter, r *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		rw.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(rw).Encode(map[string]any{
			"config":             cfg,
			"pid":                os.Getpid(),
			"uptime_seconds":     time.Since(startTime).Seconds(),
			"goroutines":         runtime.NumGoroutine(),
			"retained_bytes":     w.RetainedBytes(),
			"alloc_bytes_total":  w.Counters.AllocBytes.Load(),
			"alloc_objects":      w.Counters.AllocObjects.Load(),
			"gc_churn_objects":   gcChurnObjects.Load(),
			"spin_iterations":    w.Counters.SpinIterations.Load(),
			"mutex_acquisitions": w.Counters.MutexAcquisitions.Load(),
			"block_events":       w.Counters.BlockEvents.Load(),
			"heap_alloc":         ms.HeapAlloc,
			"heap_inuse":         ms.HeapInuse,
			"num_gc":             ms.NumGC,
			"gc_cpu_fraction":    ms.GCCPUFraction,
		})
	})

	p.WatchParent(parentWatchdog)
	w.StartSpin(cfg.Spin, 1)
	w.StartAlloc(cfg.AllocMiBPerSec)
	if cfg.GCHeavy {
		go gcChurnWorker()
	}
	if cfg.Mutex {
		w.StartMutex()
	}
	if cfg.Block {
		w.StartBlock()
	}

	// Everything except the parked goroutines is running now: main (which
	// becomes the HTTP accept loop below) + watchdog + workers.
	baseline := runtime.NumGoroutine()
	w.StartParked(cfg.Parked)

	workload.PrintReady(struct {
		Ready              bool    `json:"ready"`
		Addr               string  `json:"addr"`
		Pid                int     `json:"pid"`
		BaselineGoroutines int     `json:"baseline_goroutines"`
		ExpectedGoroutines int     `json:"expected_goroutines"`
		Parked             int     `json:"parked"`
		Spin               int     `json:"spin"`
		RetainMiB          int     `json:"retain_mib"`
		RetainedBytes      int     `json:"retained_bytes"`
		AllocMiBPerSec     float64 `json:"alloc_mib_per_sec"`
		GCHeavy            bool    `json:"gc_heavy"`
		Mutex              bool    `json:"mutex"`
		Block              bool    `json:"block"`
		ExitAfterSeconds   float64 `json:"exit_after_seconds"`
		GOMAXPROCS         int     `json:"gomaxprocs"`
		NumCPU             int     `json:"num_cpu"`
		GoVersion          string  `json:"go_version"`
	}{
		Ready: true, Addr: ln.Addr().String(), Pid: os.Getpid(),
		BaselineGoroutines: baseline, ExpectedGoroutines: baseline + cfg.Parked,
		Parked: cfg.Parked, Spin: cfg.Spin, RetainMiB: cfg.RetainMiB, RetainedBytes: w.RetainedBytes(),
		AllocMiBPerSec: cfg.AllocMiBPerSec, GCHeavy: cfg.GCHeavy, Mutex: cfg.Mutex, Block: cfg.Block,
		ExitAfterSeconds: p.ExitAfter().Seconds(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		NumCPU: runtime.NumCPU(), GoVersion: runtime.Version(),
	})

	// No WriteTimeout: /debug/pprof/profile?seconds=N must be able to block.
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second}
	p.Fatalf("serve: %v", srv.Serve(ln))
}

// The shared work runs under these functions (see workload.Frames), so its
// stacks name this program: main.spinWorker, main.retainHeap, ...

//go:noinline
func parentWatchdog(run func()) { run() }

//go:noinline
func retainHeap(run func()) { run() }

//go:noinline
func spinWorker(run func()) { run() }

//go:noinline
func allocWorker(run func()) { run() }

//go:noinline
func mutexWorker(run func()) { run() }

//go:noinline
func blockProducer(run func()) { run() }

//go:noinline
func blockConsumer(run func()) { run() }

//go:noinline
func parkedWorker(run func()) { run() }

//go:noinline
func buildGCLiveHeap(liveMiB int) {
	const nodeSize = 64 // 3 pointers + 5 words = 64 bytes (size class 64)
	n := liveMiB << 20 / nodeSize / 2
	if n < 1024 {
		n = 1024
	}
	r := rand.New(rand.NewSource(42))
	// anchors: never replaced, randomly cross-linked (cache-hostile marking).
	gcAnchors = make([]*gcNode, n)
	for i := range gcAnchors {
		gcAnchors[i] = &gcNode{}
	}
	for _, nd := range gcAnchors {
		nd.left = gcAnchors[r.Intn(n)]
		nd.right = gcAnchors[r.Intn(n)]
	}
	// slots: replaced by gcChurnWorker. They point only at anchors, so a
	// replaced node is garbage and the live heap stays ≈ liveMiB.
	gcLive = make([]*gcNode, n)
	for i := range gcLive {
		gcLive[i] = &gcNode{left: gcAnchors[r.Intn(n)], right: gcAnchors[r.Intn(n)]}
	}
}

// gcChurnWorker replaces random slot nodes with fresh pointer objects as fast
// as it can; with GOGC=10 this keeps the GC running nearly continuously
// (gcBgMarkWorker + gcAssistAlloc in CPU profiles).
//
//go:noinline
func gcChurnWorker() {
	r := rand.New(rand.NewSource(7))
	n := len(gcLive)
	for {
		for i := 0; i < 1024; i++ {
			nd := &gcNode{left: gcAnchors[r.Intn(n)], right: gcAnchors[r.Intn(n)]}
			nd.up = &gcNode{left: nd} // extra short-lived garbage
			gcLive[r.Intn(n)] = nd
			gcSink.Store(nd.up)
		}
		gcChurnObjects.Add(2048)
	}
}
