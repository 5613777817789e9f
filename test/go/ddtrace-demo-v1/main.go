// ddtrace-demo-v1: the DataKit "Profiling Golang" seed demo against
// dd-trace-go v1 (v1.73.1, the last standalone v1: gzip attachments, plain
// metrics.json). It starts the Datadog profiler (push mode) towards
// $PROFCOL_AGENT_ADDR and does a known amount of work so every profile type
// has content. Flags, environment, work and ready line come from
// profcol.test/workload (../workload); this file holds what is v1's own: the
// profiler import and its Start options. See test/go/README.md.
//
// Startup contract: after profiler.Start succeeded, exactly ONE line of JSON
// is printed to stdout: {"ready":true,"pid":N,"agent_addr":"host:port",...}.
package main

import (
	"gopkg.in/DataDog/dd-trace-go.v1/profiler"
	"profcol.test/workload"
)

func main() {
	workload.Demo{
		Name:   "ddtrace-demo-v1",
		Module: "gopkg.in/DataDog/dd-trace-go.v1",
		Frames: frames,
		Start: func(s workload.DemoSettings) error {
			return profiler.Start(
				profiler.WithAgentAddr(s.AgentAddr),
				profiler.WithService(s.Service),
				profiler.WithEnv(s.Env),
				profiler.WithVersion(s.Version),
				profiler.WithTags(s.Tags...),
				profiler.WithPeriod(s.Period),
				profiler.CPUDuration(s.CPUDuration),
				profiler.WithProfileTypes(
					profiler.CPUProfile,
					profiler.HeapProfile,
					profiler.BlockProfile,
					profiler.MutexProfile,
					profiler.GoroutineProfile,
				),
				profiler.MutexProfileFraction(s.MutexFraction),
				profiler.BlockProfileRate(s.BlockRate),
				profiler.WithLogStartup(false),
			)
		},
		Stop: profiler.Stop,
	}.Run()
}

// The work runs under these functions, so profiles show main.spinWorker,
// main.retainHeap, ... (see workload.Frames).
var frames = workload.Frames{
	ParentWatchdog: parentWatchdog, RetainHeap: retainHeap, SpinWorker: spinWorker, AllocWorker: allocWorker,
	MutexWorker: mutexWorker, BlockProducer: blockProducer, BlockConsumer: blockConsumer, ParkedWorker: parkedWorker,
}

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
