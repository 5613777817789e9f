// loadgen POSTs one upload body to a URL, closed loop (N connections, each sending its next
// request when the last is answered) or open loop (a fixed offered rate, whatever the answers),
// and prints one JSON object: answers by status, throughput, latency percentiles and its own CPU
// time, so the bench can say how much of the machine the generator itself took.
//
// Open-loop latency is measured from the moment a request was due, not from when it was sent,
// so a server that falls behind is not flattered by the generator waiting for it.
//
// When the body is a dd-trace upload (its event part holds "runtime-id:<36 chars>" and
// "profile_seq:<digits>"), every request gets the runtime-id of one process of a fleet of
// -fleet processes and that process's next profile_seq, so de-duplication sees distinct uploads.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type result struct {
	status    int
	latencyMs float64
	err       error
}

type report struct {
	Mode            string             `json:"mode"`
	Connections     int                `json:"connections"`
	OfferedRate     float64            `json:"offeredRate"`
	DurationS       float64            `json:"durationS"`
	Counted         int                `json:"counted"`
	Statuses        map[string]int     `json:"statuses"`
	TransportErrors int                `json:"transportErrors"`
	ErrorSample     string             `json:"errorSample,omitempty"`
	SkippedAtCap    int64              `json:"skippedAtCap"`
	OkPerS          float64            `json:"okPerS"`
	AnsweredPerS    float64            `json:"answeredPerS"`
	LatencyMs       map[string]float64 `json:"latencyMs"`
	CPUSeconds      float64            `json:"cpuSeconds"`
	ElapsedS        float64            `json:"elapsedS"`
	Generator       string             `json:"generator"`
}

var (
	runtimeIDPattern  = regexp.MustCompile(`runtime-id:[0-9a-fA-F-]{36}`)
	profileSeqPattern = regexp.MustCompile(`profile_seq:[0-9]+`)
)

// uploadTemplate splits the body around the runtime-id and profile_seq values.
type uploadTemplate struct {
	before, between, after []byte
	ok                     bool
	seqFirst               bool
	next                   []atomic.Int64
}

func newTemplate(body []byte, fleet int) *uploadTemplate {
	id := runtimeIDPattern.FindIndex(body)
	seq := profileSeqPattern.FindIndex(body)
	if id == nil || seq == nil || fleet <= 0 {
		return &uploadTemplate{before: body}
	}
	t := &uploadTemplate{ok: true, next: make([]atomic.Int64, fleet)}
	idStart, idEnd := id[0]+len("runtime-id:"), id[1]
	seqStart, seqEnd := seq[0]+len("profile_seq:"), seq[1]
	if seqStart < idStart {
		t.seqFirst = true
		t.before, t.between, t.after = body[:seqStart], body[seqEnd:idStart], body[idEnd:]
	} else {
		t.before, t.between, t.after = body[:idStart], body[idEnd:seqStart], body[seqEnd:]
	}
	return t
}

func (t *uploadTemplate) request(n int64) ([][]byte, int64) {
	if !t.ok {
		return [][]byte{t.before}, int64(len(t.before))
	}
	k := int(n % int64(len(t.next)))
	id := []byte(fmt.Sprintf("00000000-0000-4000-8000-%012d", k))
	seq := []byte(strconv.FormatInt(t.next[k].Add(1), 10))
	first, second := id, seq
	if t.seqFirst {
		first, second = seq, id
	}
	parts := [][]byte{t.before, first, t.between, second, t.after}
	size := 0
	for _, p := range parts {
		size += len(p)
	}
	return parts, int64(size)
}

func main() {
	url := flag.String("url", "", "upload URL")
	bodyFile := flag.String("body", "", "file holding the request body")
	contentType := flag.String("content-type", "application/octet-stream", "Content-Type header")
	mode := flag.String("mode", "closed", "closed (N connections back to back) or open (fixed offered rate)")
	connections := flag.Int("connections", 8, "closed loop: connections")
	rate := flag.Float64("rate", 500, "open loop: requests per second offered")
	duration := flag.Duration("duration", 10*time.Second, "measured time")
	warmup := flag.Duration("warmup", time.Second, "time before measuring; its requests are not counted")
	fleet := flag.Int("fleet", 64, "distinct runtime-ids cycled through (0: send the body unchanged)")
	maxInFlight := flag.Int("max-in-flight", 2048, "open loop: requests due while this many are unanswered are skipped and counted")
	flag.Parse()
	if *url == "" || *bodyFile == "" {
		fmt.Fprintln(os.Stderr, "loadgen: -url and -body are required")
		os.Exit(2)
	}
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	tmpl := newTemplate(body, *fleet)
	// A write buffer larger than an upload: the default 4 KiB would cost one write(2) per 4 KiB.
	transport := &http.Transport{MaxIdleConnsPerHost: 4096, DisableCompression: true, IdleConnTimeout: time.Minute, WriteBufferSize: 256 << 10}
	if *mode == "closed" {
		transport.MaxConnsPerHost = *connections
	}
	client := &http.Client{Transport: transport, Timeout: 60 * time.Second}
	var sent atomic.Int64

	send := func(due time.Time) result {
		parts, size := tmpl.request(sent.Add(1))
		readers := make([]io.Reader, len(parts))
		for i, p := range parts {
			readers[i] = bytes.NewReader(p)
		}
		req, _ := http.NewRequest(http.MethodPost, *url, io.MultiReader(readers...))
		req.ContentLength = size
		req.Header.Set("Content-Type", *contentType)
		resp, err := client.Do(req)
		if err != nil {
			return result{err: err, latencyMs: msSince(due)}
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return result{status: resp.StatusCode, latencyMs: msSince(due)}
	}

	start := time.Now()
	measureFrom := start.Add(*warmup)
	end := measureFrom.Add(*duration)
	var mu sync.Mutex
	var results []result
	record := func(due time.Time, r result) {
		if due.Before(measureFrom) || due.After(end) {
			return
		}
		mu.Lock()
		results = append(results, r)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	var skipped atomic.Int64
	if *mode == "closed" {
		for c := 0; c < *connections; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					due := time.Now()
					if due.After(end) {
						return
					}
					record(due, send(due))
				}
			}()
		}
	} else {
		interval := time.Duration(float64(time.Second) / *rate)
		var inFlight atomic.Int64
		for i := 0; ; i++ {
			due := start.Add(time.Duration(i) * interval)
			if due.After(end) {
				break
			}
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
			if inFlight.Load() >= int64(*maxInFlight) {
				if !due.Before(measureFrom) {
					skipped.Add(1)
				}
				continue
			}
			inFlight.Add(1)
			wg.Add(1)
			go func(due time.Time) {
				defer wg.Done()
				defer inFlight.Add(-1)
				record(due, send(due))
			}(due)
		}
	}
	wg.Wait()

	rep := report{Mode: *mode, Connections: *connections, DurationS: duration.Seconds(), Statuses: map[string]int{}, Generator: "go", SkippedAtCap: skipped.Load()}
	if *mode == "open" {
		rep.OfferedRate = *rate
		rep.Connections = 0
	}
	var latencies []float64
	for _, r := range results {
		if r.err != nil {
			rep.TransportErrors++
			if rep.ErrorSample == "" {
				rep.ErrorSample = r.err.Error()
			}
			continue
		}
		rep.Statuses[strconv.Itoa(r.status)]++
		if r.status == 200 {
			latencies = append(latencies, r.latencyMs)
		}
	}
	rep.Counted = len(results)
	rep.OkPerS = float64(len(latencies)) / duration.Seconds()
	rep.AnsweredPerS = float64(len(results)-rep.TransportErrors) / duration.Seconds()
	rep.LatencyMs = percentiles(latencies)
	var usage syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &usage)
	rep.CPUSeconds = tv(usage.Utime) + tv(usage.Stime)
	rep.ElapsedS = time.Since(start).Seconds()
	json.NewEncoder(os.Stdout).Encode(rep)
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// percentiles of the 200 answers' latencies (nearest rank); NaN-free: empty input gives zeros.
func percentiles(ms []float64) map[string]float64 {
	out := map[string]float64{"p50": 0, "p90": 0, "p99": 0, "max": 0, "mean": 0}
	if len(ms) == 0 {
		return out
	}
	sort.Float64s(ms)
	at := func(p float64) float64 {
		i := int(p / 100 * float64(len(ms)))
		if i >= len(ms) {
			i = len(ms) - 1
		}
		return ms[i]
	}
	sum := 0.0
	for _, v := range ms {
		sum += v
	}
	out["p50"], out["p90"], out["p99"], out["max"], out["mean"] = at(50), at(90), at(99), ms[len(ms)-1], sum/float64(len(ms))
	return out
}
