// pull-targets: N fake Go programs serving net/http/pprof on loopback, for bench/pull.mjs.
//
// Each target listens on its own 127.0.0.1 port (chosen by the kernel) and answers like
// net/http/pprof, with bytes prepared by the bench:
//
//	/debug/pprof/profile?seconds=N  waits N seconds (or until the client goes), then profile.pprof
//	/debug/pprof/goroutine          goroutine.pprof
//	/debug/pprof/heap?debug=1       memstats.txt
//	/debug/pprof/heap, mutex, block <type>-<k>.pprof for this target's k-th request of that path
//	                                (the last one prepared once k passes it): cumulative counters
//	                                that grow between scrapes, so the collector's deltas are real
//
// It prints one JSON line {"ports":[...]} once every target listens, then serves until stdin
// closes or it gets SIGTERM/SIGINT.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

type bodies struct {
	profile, goroutine, memstats []byte
	series                       map[string][][]byte // heap, mutex, block: one body per scrape
}

func mustRead(dir, name string) []byte {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		fmt.Fprintf(os.Stderr, "pull-targets: %v\n", err)
		os.Exit(2)
	}
	return b
}

func load(dir string, versions int) *bodies {
	b := &bodies{
		profile:   mustRead(dir, "profile.pprof"),
		goroutine: mustRead(dir, "goroutine.pprof"),
		memstats:  mustRead(dir, "memstats.txt"),
		series:    map[string][][]byte{},
	}
	for _, name := range []string{"heap", "mutex", "block"} {
		for k := 0; k < versions; k++ {
			b.series[name] = append(b.series[name], mustRead(dir, fmt.Sprintf("%s-%d.pprof", name, k)))
		}
	}
	return b
}

// target is one fake program: its own counters per cumulative path.
type target struct {
	b      *bodies
	scrape map[string]*atomic.Int64
}

func (t *target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	send := func(body []byte) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Write(body)
	}
	switch r.URL.Path {
	case "/debug/pprof/profile":
		seconds, err := strconv.Atoi(r.URL.Query().Get("seconds"))
		if err != nil || seconds <= 0 {
			seconds = 30
		}
		select {
		case <-time.After(time.Duration(seconds) * time.Second):
			send(t.b.profile)
		case <-r.Context().Done():
		}
	case "/debug/pprof/goroutine":
		send(t.b.goroutine)
	case "/debug/pprof/heap", "/debug/pprof/mutex", "/debug/pprof/block":
		name := r.URL.Path[len("/debug/pprof/"):]
		if name == "heap" && r.URL.Query().Get("debug") == "1" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write(t.b.memstats)
			return
		}
		series := t.b.series[name]
		k := int(t.scrape[name].Add(1) - 1)
		if k >= len(series) {
			k = len(series) - 1
		}
		send(series[k])
	default:
		w.Header().Set("X-Go-Pprof", "1")
		http.Error(w, "Unknown profile", http.StatusNotFound)
	}
}

func main() {
	n := flag.Int("n", 1000, "number of targets")
	dir := flag.String("dir", "", "directory of the prepared bodies")
	versions := flag.Int("versions", 1, "heap-/mutex-/block-<k>.pprof files per type, k = 0..versions-1")
	flag.Parse()
	b := load(*dir, *versions)
	ports := make([]int, 0, *n)
	for i := 0; i < *n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintf(os.Stderr, "pull-targets: listen for target %d of %d: %v\n", i+1, *n, err)
			os.Exit(2)
		}
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
		t := &target{b: b, scrape: map[string]*atomic.Int64{"heap": {}, "mutex": {}, "block": {}}}
		go http.Serve(ln, t)
	}
	line, _ := json.Marshal(map[string]any{"ports": ports})
	os.Stdout.Write(append(line, '\n'))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		io.Copy(io.Discard, os.Stdin)
		stop <- syscall.SIGTERM
	}()
	<-stop
}
