// ddtrace-demo-v2: the DataKit "Profiling Golang" seed demo against
// dd-trace-go v2. It starts the Datadog profiler (push mode) towards
// $PROFCOL_AGENT_ADDR and does a known amount of work so every profile type
// has content. See test/go/README.md.
//
// Startup contract: after profiler.Start succeeded, exactly ONE line of JSON
// is printed to stdout: {"ready":true,"pid":N,"agent_addr":"host:port",...}.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/DataDog/dd-trace-go/v2/profiler"
)

const (
	ddModule    = "github.com/DataDog/dd-trace-go/v2"
	demoName    = "ddtrace-demo-v2"
	mib         = 1 << 20
	defaultAddr = "127.0.0.1:9529" // DataKit's default; the Datadog agent uses 8126
)

var (
	retained  [][]byte
	allocSink []byte
	spinSink  atomic.Uint64
)

func main() {
	defExitAfter := envDuration("PROFCOL_EXIT_AFTER", 0)
	exitAfter := flag.Duration("exit-after", defExitAfter, "stop the profiler and exit(0) after this long; 0 = never (default from $PROFCOL_EXIT_AFTER)")
	spin := flag.Int("spin", 1, "goroutines burning CPU")
	spinDuty := flag.Float64("spin-duty", 0.5, "fraction of each 10 ms slot a spin goroutine is busy (1 = a full core)")
	retainMiB := flag.Int("retain-mib", 32, "MiB of heap kept reachable (4 MiB chunks, pages touched)")
	allocRate := flag.Float64("alloc-mib-per-sec", 10, "garbage allocation rate (small/medium objects)")
	parked := flag.Int("parked", 20, "goroutines parked forever on a channel")
	contention := flag.Bool("contention", true, "4 goroutines contend on a sync.Mutex and 3 block on a channel")
	pprofAddr := flag.String("pprof-addr", "", "if set, also serve net/http/pprof there (note: CPU profiles conflict with the dd profiler's)")
	exitWithParent := flag.Bool("exit-with-parent", true, "exit when the parent process dies (ppid changes)")
	flag.Parse()

	// Quiet defaults; the environment (i.e. the test) wins.
	setDefaultEnv("DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false")
	setDefaultEnv("DD_TRACE_STARTUP_LOGS", "false")

	agentAddr := envOr("PROFCOL_AGENT_ADDR", defaultAddr)
	period := envDuration("PROFCOL_PERIOD", 10*time.Second)
	cpuDuration := envDuration("PROFCOL_CPU_DURATION", period)
	service := envOr("PROFCOL_SERVICE", demoName)
	env := envOr("PROFCOL_ENV", "e2e")
	version := envOr("PROFCOL_VERSION", "1.2.3")
	mutexFraction := envInt("PROFCOL_MUTEX_FRACTION", 10)
	blockRate := envInt("PROFCOL_BLOCK_RATE", 10000) // ns; dd default 100ms samples almost nothing here
	tags := []string{"team:profcol", "demo:" + demoName, "component:e2e"}
	if extra := os.Getenv("PROFCOL_TAGS"); extra != "" {
		tags = append(tags, strings.Split(extra, ",")...)
	}

	// Known work, started before the profiler so the first cycle sees it.
	retainHeap(*retainMiB)
	runtime.GC()
	for i := 0; i < *spin; i++ {
		go spinWorker(i, *spinDuty)
	}
	if *allocRate > 0 {
		go allocWorker(*allocRate)
	}
	if *contention {
		var mu sync.Mutex
		for i := 0; i < 4; i++ {
			go mutexWorker(&mu)
		}
		ch := make(chan int)
		for i := 0; i < 3; i++ {
			go blockConsumer(ch)
		}
		go blockProducer(ch)
	}
	park := make(chan struct{})
	for i := 0; i < *parked; i++ {
		go parkedWorker(park)
	}
	if ppid := os.Getppid(); *exitWithParent && ppid > 1 {
		go parentWatchdog(ppid)
	}
	var pprofListen string
	if *pprofAddr != "" {
		ln, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			fatalf("listen %s: %v", *pprofAddr, err)
		}
		pprofListen = ln.Addr().String()
		go func() { fatalf("pprof serve: %v", http.Serve(ln, nil)) }()
	}

	err := profiler.Start(
		profiler.WithAgentAddr(agentAddr),
		profiler.WithService(service),
		profiler.WithEnv(env),
		profiler.WithVersion(version),
		profiler.WithTags(tags...),
		profiler.WithPeriod(period),
		profiler.CPUDuration(cpuDuration),
		profiler.WithProfileTypes(
			profiler.CPUProfile,
			profiler.HeapProfile,
			profiler.BlockProfile,
			profiler.MutexProfile,
			profiler.GoroutineProfile,
		),
		profiler.MutexProfileFraction(mutexFraction),
		profiler.BlockProfileRate(blockRate),
		profiler.WithLogStartup(false),
	)
	if err != nil {
		fatalf("profiler.Start: %v", err)
	}

	stop := func(code int) {
		profiler.Stop()
		os.Exit(code)
	}
	if *exitAfter > 0 {
		time.AfterFunc(*exitAfter, func() {
			fmt.Fprintf(os.Stderr, "%s: -exit-after %s reached, exiting\n", demoName, *exitAfter)
			stop(0)
		})
	}

	ready := struct {
		Ready              bool     `json:"ready"`
		Pid                int      `json:"pid"`
		AgentAddr          string   `json:"agent_addr"`
		PeriodSeconds      float64  `json:"period_seconds"`
		CPUDurationSeconds float64  `json:"cpu_duration_seconds"`
		Service            string   `json:"service"`
		Env                string   `json:"env"`
		Version            string   `json:"version"`
		Tags               []string `json:"tags"`
		DDTraceGoModule    string   `json:"dd_trace_go_module"`
		DDTraceGoVersion   string   `json:"dd_trace_go_version"`
		GoVersion          string   `json:"go_version"`
		RetainMiB          int      `json:"retain_mib"`
		Parked             int      `json:"parked"`
		Spin               int      `json:"spin"`
		SpinDuty           float64  `json:"spin_duty"`
		AllocMiBPerSec     float64  `json:"alloc_mib_per_sec"`
		PprofAddr          string   `json:"pprof_addr,omitempty"`
		ExitAfterSeconds   float64  `json:"exit_after_seconds"`
	}{
		Ready: true, Pid: os.Getpid(), AgentAddr: agentAddr,
		PeriodSeconds: period.Seconds(), CPUDurationSeconds: cpuDuration.Seconds(),
		Service: service, Env: env, Version: version, Tags: tags,
		DDTraceGoModule: ddModule, DDTraceGoVersion: depVersion(ddModule), GoVersion: runtime.Version(),
		RetainMiB: *retainMiB, Parked: *parked, Spin: *spin, SpinDuty: *spinDuty,
		AllocMiBPerSec: *allocRate, PprofAddr: pprofListen, ExitAfterSeconds: exitAfter.Seconds(),
	}
	line, _ := json.Marshal(ready)
	os.Stdout.Write(append(line, '\n'))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	stop(0)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, demoName+": "+format+"\n", args...)
	os.Exit(2)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func setDefaultEnv(k, v string) {
	if _, ok := os.LookupEnv(k); !ok {
		os.Setenv(k, v)
	}
}

func envDuration(k string, def time.Duration) time.Duration {
	v := os.Getenv(k)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		fatalf("bad %s=%q: %v", k, v, err)
	}
	return d
}

func envInt(k string, def int) int {
	v := os.Getenv(k)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		fatalf("bad %s=%q: %v", k, v, err)
	}
	return n
}

func depVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == path {
				if d.Replace != nil {
					return d.Replace.Version
				}
				return d.Version
			}
		}
	}
	return "unknown"
}

func parentWatchdog(ppid int) {
	for {
		time.Sleep(500 * time.Millisecond)
		if os.Getppid() != ppid {
			fmt.Fprintf(os.Stderr, "%s: parent process gone, exiting\n", demoName)
			profiler.Stop()
			os.Exit(3)
		}
	}
}

//go:noinline
func retainHeap(totalMiB int) {
	for remaining := totalMiB * mib; remaining > 0; {
		n := 4 * mib
		if n > remaining {
			n = remaining
		}
		b := make([]byte, n)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		retained = append(retained, b)
		remaining -= n
	}
}

//go:noinline
func spinWorker(id int, duty float64) {
	x := uint64(id) + 1
	busy := time.Duration(float64(10*time.Millisecond) * duty)
	idle := 10*time.Millisecond - busy
	for {
		for t := time.Now(); time.Since(t) < busy; {
			for i := 0; i < 4096; i++ {
				x = x*6364136223846793005 + 1442695040888963407
				x ^= x >> 29
			}
		}
		spinSink.Store(x)
		if idle > 0 {
			time.Sleep(idle)
		}
	}
}

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
		if target-done > rate*mib {
			done = target - rate*mib
		}
		for done < target {
			n := sizes[k%len(sizes)]
			k++
			b := make([]byte, n)
			b[0], b[n-1] = 1, 1
			allocSink = b
			done += float64(n)
		}
	}
}

//go:noinline
func mutexWorker(mu *sync.Mutex) {
	for {
		mu.Lock()
		time.Sleep(500 * time.Microsecond)
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
	}
}

//go:noinline
func parkedWorker(park <-chan struct{}) {
	<-park
}
