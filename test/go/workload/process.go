// Package workload is what the Go programs under test/go share: known,
// flag-controlled work (retained heap, CPU spinning, garbage, lock and channel
// contention, parked goroutines) and the process plumbing every one of them
// needs (-exit-after, -exit-with-parent, environment defaults, the one-line
// JSON ready banner). It uses the standard library only.
//
// The programs require it through `replace profcol.test/workload => ../workload`.
// See test/go/README.md for the behaviour each program documents.
package workload

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// Process is one program's identity and exit path.
type Process struct {
	// Name prefixes every message on stderr ("pprof-target: ...").
	Name string

	mu      sync.Mutex
	cleanup func()

	exitAfter      time.Duration
	exitWithParent bool
}

// NewProcess registers -exit-after (default $PROFCOL_EXIT_AFTER, else 0 =
// never) and -exit-with-parent (default on) on the command-line flag set.
// Call it before flag.Parse; ScheduleExit and WatchParent act on the parsed values.
func NewProcess(name string) *Process {
	p := &Process{Name: name}
	flag.DurationVar(&p.exitAfter, "exit-after", p.EnvDuration("PROFCOL_EXIT_AFTER", 0),
		"exit(0) after this long, after the program's cleanup (e.g. profiler.Stop); 0 = never (default from $PROFCOL_EXIT_AFTER)")
	flag.BoolVar(&p.exitWithParent, "exit-with-parent", true, "exit(3) when the parent process dies (ppid changes)")
	return p
}

// ExitAfter is the parsed -exit-after.
func (p *Process) ExitAfter() time.Duration { return p.exitAfter }

// ExitWithParent is the parsed -exit-with-parent.
func (p *Process) ExitWithParent() bool { return p.exitWithParent }

// OnExit sets what runs before every exit the program takes through this
// package (-exit-after, parent death, Exit): e.g. profiler.Stop.
func (p *Process) OnExit(f func()) {
	p.mu.Lock()
	p.cleanup = f
	p.mu.Unlock()
}

// Exit runs the cleanup set by OnExit and exits with code.
func (p *Process) Exit(code int) {
	p.mu.Lock()
	f := p.cleanup
	p.mu.Unlock()
	if f != nil {
		f()
	}
	os.Exit(code)
}

// Fatalf prints "<name>: <message>" on stderr and exits 2 (without cleanup).
func (p *Process) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, p.Name+": "+format+"\n", args...)
	os.Exit(2)
}

// ScheduleExit arms -exit-after: after that long, the cleanup runs and the
// process exits 0. No-op when it is 0.
func (p *Process) ScheduleExit() {
	if p.exitAfter <= 0 {
		return
	}
	time.AfterFunc(p.exitAfter, func() {
		fmt.Fprintf(os.Stderr, "%s: -exit-after %s reached, exiting\n", p.Name, p.exitAfter)
		p.Exit(0)
	})
}

// WatchParent starts, when -exit-with-parent is on and there is a real
// parent, one goroutine (under frame, a function of package main so that
// profiles attribute it to the program) that exits 3 once the process is
// re-parented: a crashed test never leaves a spinning program behind.
// It reports whether it started the goroutine.
func (p *Process) WatchParent(frame func(run func())) bool {
	ppid := os.Getppid()
	if !p.exitWithParent || ppid <= 1 {
		return false
	}
	go frame(func() {
		for {
			time.Sleep(500 * time.Millisecond)
			if os.Getppid() != ppid {
				fmt.Fprintf(os.Stderr, "%s: parent process gone, exiting\n", p.Name)
				p.Exit(3)
			}
		}
	})
	return true
}

// PrintReady writes v as exactly one line of JSON on stdout.
func PrintReady(v any) {
	line, _ := json.Marshal(v)
	os.Stdout.Write(append(line, '\n'))
}

// EnvOr is $k, or def when it is unset or empty.
func EnvOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// SetDefaultEnv sets $k to v unless it is set (even to "").
func SetDefaultEnv(k, v string) {
	if _, ok := os.LookupEnv(k); !ok {
		os.Setenv(k, v)
	}
}

// EnvDuration parses $k (time.ParseDuration), def when unset or empty; a bad value is fatal.
func (p *Process) EnvDuration(k string, def time.Duration) time.Duration {
	return envParse(p, k, def, time.ParseDuration)
}

// EnvInt parses $k as an integer, def when unset or empty; a bad value is fatal.
func (p *Process) EnvInt(k string, def int) int { return envParse(p, k, def, strconv.Atoi) }

func envParse[T any](p *Process, k string, def T, parse func(string) (T, error)) T {
	v := os.Getenv(k)
	if v == "" {
		return def
	}
	x, err := parse(v)
	if err != nil {
		p.Fatalf("bad %s=%q: %v", k, v, err)
	}
	return x
}
