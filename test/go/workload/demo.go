package workload

import (
	"flag"
	"net"
	"net/http"
	_ "net/http/pprof" // served on -pprof-addr
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
)

// Demo is a dd-trace-go profiling demo (test/go/ddtrace-demo-v1 and -v2): the
// DataKit "Profiling Golang" seed program. Only the profiler differs between
// them, so a demo is its name, its dd-trace-go module and the two calls into it.
type Demo struct {
	Name   string // "ddtrace-demo-v2": default service, "demo:<name>" tag, stderr prefix
	Module string // the dd-trace-go module path, whose version the ready line reports
	Frames Frames
	// Start is profiler.Start with the settings; Stop is profiler.Stop, run
	// before every exit.
	Start func(DemoSettings) error
	Stop  func()
}

// DemoSettings are what the profiler is started with, from $PROFCOL_* (see test/go/README.md).
type DemoSettings struct {
	AgentAddr     string // host:port; uploads go to http://<addr>/profiling/v1/input
	Service       string
	Env           string
	Version       string
	Tags          []string
	Period        time.Duration
	CPUDuration   time.Duration
	MutexFraction int
	BlockRate     int // ns
}

// DataKit's default; the Datadog agent uses 8126.
const defaultAgentAddr = "127.0.0.1:9529"

// Run parses the flags and environment, starts the known work, starts the
// profiler, prints exactly one ready line and then waits for SIGINT/SIGTERM
// (or -exit-after, or the parent's death), stopping the profiler before it
// exits. The last partial period is not flushed.
func (d Demo) Run() {
	p := NewProcess(d.Name)
	p.OnExit(d.Stop) // profiler.Stop before Start is a no-op
	spin := flag.Int("spin", 1, "goroutines burning CPU")
	spinDuty := flag.Float64("spin-duty", 0.5, "fraction of each 10 ms slot a spin goroutine is busy (1 = a full core)")
	retainMiB := flag.Int("retain-mib", 32, "MiB of heap kept reachable (pages touched)")
	retainChunkKiB := flag.Int("retain-chunk-kib", 16384, "chunk size of -retain-mib; 16 MiB chunks: the 512 KiB-sampled heap profile keeps every one")
	allocRate := flag.Float64("alloc-mib-per-sec", 10, "garbage allocation rate (small/medium objects)")
	parked := flag.Int("parked", 20, "goroutines parked forever on a channel")
	contention := flag.Bool("contention", true, "4 goroutines contend on a sync.Mutex and 3 block on a channel")
	pprofAddr := flag.String("pprof-addr", "", "if set, also serve net/http/pprof there (note: CPU profiles conflict with the dd profiler's)")
	flag.Parse()

	// Quiet defaults; the environment (i.e. the test) wins.
	SetDefaultEnv("DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false")
	SetDefaultEnv("DD_TRACE_STARTUP_LOGS", "false")

	period := p.EnvDuration("PROFCOL_PERIOD", 10*time.Second)
	s := DemoSettings{
		AgentAddr:     EnvOr("PROFCOL_AGENT_ADDR", defaultAgentAddr),
		Service:       EnvOr("PROFCOL_SERVICE", d.Name),
		Env:           EnvOr("PROFCOL_ENV", "e2e"),
		Version:       EnvOr("PROFCOL_VERSION", "1.2.3"),
		Tags:          []string{"team:profcol", "demo:" + d.Name, "component:e2e"},
		Period:        period,
		CPUDuration:   p.EnvDuration("PROFCOL_CPU_DURATION", period),
		MutexFraction: p.EnvInt("PROFCOL_MUTEX_FRACTION", 10),
		BlockRate:     p.EnvInt("PROFCOL_BLOCK_RATE", 10000), // the dd default of 100 ms samples almost nothing here
	}
	if extra := os.Getenv("PROFCOL_TAGS"); extra != "" {
		s.Tags = append(s.Tags, strings.Split(extra, ",")...)
	}

	// The rates the profiler sets (the same values, so its own calls change nothing), set before
	// any goroutine can wait: a goroutine parked on a sync.Mutex while the mutex profile rate is 0
	// has no acquire time, the runtime hands that 0 on to every waiter that takes its place at the
	// head of the mutex's wait queue (runtime/sema.go, queue and dequeue), and the 4 mutex workers
	// can keep that queue from emptying for good. Started the other way round, the mutex profile
	// stayed empty for whole runs (prof_go_mutex_delay_time 0 on every upload, 2 runs in ~25).
	runtime.SetMutexProfileFraction(s.MutexFraction)
	runtime.SetBlockProfileRate(s.BlockRate)

	// Known work, started before the profiler so that its first cycle sees it.
	w := &Workers{Frames: d.Frames}
	// Go samples the heap every 512 KiB on average, so a chunk of c bytes is missing from the heap
	// profile with probability e^(-c / 512 KiB): e^-8 for 4 MiB (one of 16 chunks missed in ~1 pull
	// run in 200), e^-32 for 16 MiB.
	w.RetainHeap(*retainMiB, *retainChunkKiB)
	runtime.GC()
	w.StartSpin(*spin, *spinDuty)
	w.StartAlloc(*allocRate)
	if *contention {
		w.StartMutex()
		w.StartBlock()
	}
	w.StartParked(*parked)
	p.WatchParent(d.Frames.ParentWatchdog)
	var pprofListen string
	if *pprofAddr != "" {
		ln, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			p.Fatalf("listen %s: %v", *pprofAddr, err)
		}
		pprofListen = ln.Addr().String()
		go func() { p.Fatalf("pprof serve: %v", http.Serve(ln, nil)) }()
	}

	if err := d.Start(s); err != nil {
		p.Fatalf("profiler.Start: %v", err)
	}
	p.ScheduleExit()

	PrintReady(struct {
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
		RetainChunkKiB     int      `json:"retain_chunk_kib"`
		Parked             int      `json:"parked"`
		Spin               int      `json:"spin"`
		SpinDuty           float64  `json:"spin_duty"`
		AllocMiBPerSec     float64  `json:"alloc_mib_per_sec"`
		PprofAddr          string   `json:"pprof_addr,omitempty"`
		ExitAfterSeconds   float64  `json:"exit_after_seconds"`
	}{
		Ready: true, Pid: os.Getpid(), AgentAddr: s.AgentAddr,
		PeriodSeconds: s.Period.Seconds(), CPUDurationSeconds: s.CPUDuration.Seconds(),
		Service: s.Service, Env: s.Env, Version: s.Version, Tags: s.Tags,
		DDTraceGoModule: d.Module, DDTraceGoVersion: depVersion(d.Module), GoVersion: runtime.Version(),
		RetainMiB: *retainMiB, RetainChunkKiB: *retainChunkKiB, Parked: *parked, Spin: *spin, SpinDuty: *spinDuty,
		AllocMiBPerSec: *allocRate, PprofAddr: pprofListen, ExitAfterSeconds: p.ExitAfter().Seconds(),
	})

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	p.Exit(0)
}

// depVersion is the version of module path linked into this binary.
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
