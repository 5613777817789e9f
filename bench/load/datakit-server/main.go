// datakit-server answers dd-trace profile uploads doing the per-upload work of DataKit's Go
// profiling input, on every core (GOMAXPROCS = all): parse the multipart body, decompress every
// attachment (klauspost zstd, or gzip), github.com/google/pprof's profile.Parse of every .pprof
// attachment plus a sum of every sample's values, and json.Unmarshal of the event and of
// metrics.json. It is the Go baseline of bench/push.mjs. It prints "listening http://host:port"
// on stdout once it accepts connections.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"github.com/google/pprof/profile"
	"github.com/klauspost/compress/zstd"
)

var zstdDecoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0))

var samplesSeen atomic.Int64

func decompress(data []byte) ([]byte, error) {
	switch {
	case len(data) >= 4 && bytes.Equal(data[:4], []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return zstdDecoder.DecodeAll(data, nil)
	case len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b:
		r, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(r)
	default:
		return data, nil
	}
}

func handleUpload(w http.ResponseWriter, r *http.Request) {
	reader, err := r.MultipartReader()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for {
		part, err := reader.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		data, err := io.ReadAll(part)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		name := part.FormName()
		if name == "event" {
			var event map[string]any
			if err := json.Unmarshal(data, &event); err != nil {
				http.Error(w, "event: "+err.Error(), http.StatusBadRequest)
				return
			}
			continue
		}
		raw, err := decompress(data)
		if err != nil {
			http.Error(w, name+": "+err.Error(), http.StatusBadRequest)
			return
		}
		switch {
		case strings.HasSuffix(name, ".pprof"):
			p, err := profile.ParseData(raw)
			if err != nil {
				http.Error(w, name+": "+err.Error(), http.StatusBadRequest)
				return
			}
			sums := make([]int64, len(p.SampleType))
			for _, s := range p.Sample {
				for i, v := range s.Value {
					sums[i] += v
				}
			}
			samplesSeen.Add(int64(len(p.Sample)))
		case name == "metrics.json":
			var metrics [][2]any
			if err := json.Unmarshal(raw, &metrics); err != nil {
				http.Error(w, name+": "+err.Error(), http.StatusBadRequest)
				return
			}
		}
	}
	w.WriteHeader(http.StatusOK)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "datakit-server:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /profiling/v1/input", handleUpload)
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "listening http://%s\n", listener.Addr())
	out.Flush()
	if err := http.Serve(listener, mux); err != nil {
		fmt.Fprintln(os.Stderr, "datakit-server:", err)
		os.Exit(1)
	}
}
