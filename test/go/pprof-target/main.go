// pprof-target: a stdlib-only Go program with known, flag-controlled
// behaviour, serving net/http/pprof on http.DefaultServeMux. End-to-end tests
// scrape it and assert the resulting metrics within bounds.
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
// blockConsumer, parkedWorker, retainHeap.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

const mib = 1 << 20

var (
	// retained keeps the -retain-mib chunks reachable for the whole run.
	retained [][]byte

	// gcAnchors + gcLive are the pointer-rich live heap of -gc-heavy.
	gcAnchors []*gcNode
	gcLive    []*gcNode

	// sinks defeat escape analysis / dead-code elimination.
	allocSink []byte // written by allocWorker only
	spinSink  atomic.Uint64
	gcSink    atomic.Pointer[gcNode]

	// counters exposed on /debug/target.
	spinIterations   atomic.Uint64
	allocBytesTotal  atomic.Uint64
	allocObjects     atomic.Uint64
	gcChurnObjects   atomic.Uint64
	mutexAcquisition atomic.Uint64
	blockEvents      atomic.Uint64

	startTime = time.Now()
)

type gcNode struct {
	left, right, up *gcNode
	payload         [5]uintptr
}

type config struct {
	Addr           string        `json:"addr"`
	Spin           int           `json:"spin"`
	Parked         int           `json:"parked"`
	RetainMiB      int           `json:"retain_mib"`
	RetainChunkKiB int           `json:"retain_chunk_kib"`
	AllocMiBPerSec float64       `json:"alloc_mib_per_sec"`
	GCHeavy        bool          `json:"gc_heavy"`
	GCHeavyLiveMiB int           `json:"gc_heavy_live_mib"`
	Mutex          bool          `json:"mutex"`
	Block          bool          `json:"block"`
	ExitAfter      time.Duration `json:"-"`
	ExitWithParent bool          `json:"exit_with_parent"`
}

func main() {
	var cfg config
	defExitAfter := time.Duration(0)
	if v := os.Getenv("PROFCOL_EXIT_AFTER"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			fatalf("bad PROFCOL_EXIT_AFTER %q: %v", v, err)
		}
		defExitAfter = d
	}
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
	flag.DurationVar(&cfg.ExitAfter, "exit-after", defExitAfter, "exit(0) after this long; 0 = never (default from $PROFCOL_EXIT_AFTER)")
	flag.BoolVar(&cfg.ExitWithParent, "exit-with-parent", true, "exit when the parent process dies (ppid changes)")
	flag.Parse()

	if cfg.Spin < 0 || cfg.Parked < 0 || cfg.RetainMiB < 0 || cfg.AllocMiBPerSec < 0 || cfg.RetainChunkKiB <= 0 {
		fatalf("negative/zero flag value")
	}

	if cfg.ExitAfter > 0 {
		time.AfterFunc(cfg.ExitAfter, func() {
			fmt.Fprintf(os.Stderr, "pprof-target: -exit-after %s reached, exiting\n", cfg.ExitAfter)
			os.Exit(0)
		})
	}

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
	retainHeap(cfg.RetainMiB, cfg.RetainChunkKiB)
	if cfg.GCHeavy {
		buildGCLiveHeap(cfg.GCHeavyLiveMiB)
	}
	runtime.GC()
	runtime.GC()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		fatalf("listen %s: %v", cfg.Addr, err)
	}

	http.HandleFunc("/debug/target", func(w http.ResponseWriter, r *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"config":             cfg,
			"pid":                os.Getpid(),
			"uptime_seconds":     time.Since(startTime).Seconds(),
			"goroutines":         runtime.NumGoroutine(),
			"retained_bytes":     retainedBytes(),
			"alloc_bytes_total":  allocBytesTotal.Load(),
			"alloc_objects":      allocObjects.Load(),
			"gc_churn_objects":   gcChurnObjects.Load(),
			"spin_iterations":    spinIterations.Load(),
			"mutex_acquisitions": mutexAcquisition.Load(),
			"block_events":       blockEvents.Load(),
			"heap_alloc":         ms.HeapAlloc,
			"heap_inuse":         ms.HeapInuse,
			"num_gc":             ms.NumGC,
			"gc_cpu_fraction":    ms.GCCPUFraction,
		})
	})

	if ppid := os.Getppid(); cfg.ExitWithParent && ppid > 1 {
		go parentWatchdog(ppid)
	}
	for i := 0; i < cfg.Spin; i++ {
		go spinWorker(i)
	}
	if cfg.AllocMiBPerSec > 0 {
		go allocWorker(cfg.AllocMiBPerSec)
	}
	if cfg.GCHeavy {
		go gcChurnWorker()
	}
	if cfg.Mutex {
		var mu sync.Mutex
		for i := 0; i < 4; i++ {
			go mutexWorker(&mu)
		}
	}
	if cfg.Block {
		ch := make(chan int)
		for i := 0; i < 3; i++ {
			go blockConsumer(ch)
		}
		go blockProducer(ch)
	}

	// Everything except the parked goroutines is running now: main (which
	// becomes the HTTP accept loop below) + watchdog + workers.
	baseline := runtime.NumGoroutine()

	park := make(chan struct{}) // never closed, never sent on
	for i := 0; i < cfg.Parked; i++ {
		go parkedWorker(park)
	}

	ready := struct {
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
		Parked: cfg.Parked, Spin: cfg.Spin, RetainMiB: cfg.RetainMiB, RetainedBytes: retainedBytes(),
		AllocMiBPerSec: cfg.AllocMiBPerSec, GCHeavy: cfg.GCHeavy, Mutex: cfg.Mutex, Block: cfg.Block,
		ExitAfterSeconds: cfg.ExitAfter.Seconds(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		NumCPU: runtime.NumCPU(), GoVersion: runtime.Version(),
	}
	line, _ := json.Marshal(ready)
	os.Stdout.Write(append(line, '\n'))

	// No WriteTimeout: /debug/pprof/profile?seconds=N must be able to block.
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second}
	fatalf("serve: %v", srv.Serve(ln))
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pprof-target: "+format+"\n", args...)
	os.Exit(2)
}

// parentWatchdog exits when the process is re-parented (the test runner
// died), so a crashed test never leaves a spinning process behind.
func parentWatchdog(ppid int) {
	for {
		time.Sleep(500 * time.Millisecond)
		if os.Getppid() != ppid {
			fmt.Fprintln(os.Stderr, "pprof-target: parent process gone, exiting")
			os.Exit(3)
		}
	}
}

//go:noinline
func retainHeap(totalMiB, chunkKiB int) {
	remaining := totalMiB * mib
	chunk := chunkKiB * 1024
	for remaining > 0 {
		n := chunk
		if n > remaining {
			n = remaining
		}
		b := make([]byte, n)
		for i := 0; i < len(b); i += 4096 { // touch every page so it is resident
			b[i] = byte(i>>12) | 1
		}
		retained = append(retained, b)
		remaining -= n
	}
}

func retainedBytes() int {
	n := 0
	for _, b := range retained {
		n += len(b)
	}
	return n
}

//go:noinline
func spinWorker(id int) {
	x := uint64(id) + 1
	for {
		for i := 0; i < 1<<16; i++ {
			x = x*6364136223846793005 + 1442695040888963407
			x ^= x >> 29
		}
		spinSink.Store(x)
		spinIterations.Add(1 << 16)
	}
}

// allocWorker allocates rate MiB/s of short-lived objects (32 B .. 32 KiB),
// paced against wall time every 10 ms.
//
//go:noinline
func allocWorker(rate float64) {
	sizes := [...]int{32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768}
	start := time.Now()
	var done float64
	k := 0
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		target := rate * mib * time.Since(start).Seconds()
		if target-done > rate*mib { // never burst more than 1 s worth after a stall
			done = target - rate*mib
		}
		for done < target {
			n := sizes[k%len(sizes)]
			k++
			b := make([]byte, n)
			b[0], b[n-1] = 1, 1
			allocSink = b
			done += float64(n)
			allocBytesTotal.Add(uint64(n))
			allocObjects.Add(1)
		}
	}
}

//go:noinline
func buildGCLiveHeap(liveMiB int) {
	const nodeSize = 64 // 3 pointers + 5 words = 64 bytes (size class 64)
	n := liveMiB * mib / nodeSize / 2
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

//go:noinline
func mutexWorker(mu *sync.Mutex) {
	for {
		mu.Lock()
		time.Sleep(500 * time.Microsecond) // hold it: the other workers contend
		mutexAcquisition.Add(1)
		mu.Unlock()
	}
}

//go:noinline
func blockProducer(ch chan<- int) {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	i := 0
	for range tick.C {
		ch <- i
		i++
	}
}

//go:noinline
func blockConsumer(ch <-chan int) {
	for range ch {
		blockEvents.Add(1)
	}
}

//go:noinline
func parkedWorker(park <-chan struct{}) {
	<-park
}
