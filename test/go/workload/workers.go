package workload

import (
	"sync"
	"sync/atomic"
	"time"
)

const mib = 1 << 20

// Frames are functions of the program's package main under which the work
// runs, so that stacks in its profiles name it main.spinWorker, main.retainHeap
// and so on (tests look for those names; a function of this package would show
// up as profcol.test/workload.X). Each one only calls its argument:
//
//	//go:noinline
//	func spinWorker(run func()) { run() }
type Frames struct {
	ParentWatchdog func(run func()) // the -exit-with-parent goroutine
	RetainHeap     func(run func()) // the -retain-mib allocations (not a goroutine)
	SpinWorker     func(run func())
	AllocWorker    func(run func())
	MutexWorker    func(run func())
	BlockProducer  func(run func())
	BlockConsumer  func(run func())
	ParkedWorker   func(run func())
}

// Counters count the work done so far.
type Counters struct {
	SpinIterations    atomic.Uint64
	AllocBytes        atomic.Uint64
	AllocObjects      atomic.Uint64
	MutexAcquisitions atomic.Uint64
	BlockEvents       atomic.Uint64
}

// Workers starts the known work. Each Start method starts its goroutines
// before it returns, so runtime.NumGoroutine() counts them right after.
type Workers struct {
	Frames   Frames
	Counters Counters

	// retained keeps the RetainHeap chunks reachable for the whole run.
	retained [][]byte
	park     chan struct{} // never closed, never sent on
}

var (
	// sinks defeat escape analysis and dead-code elimination.
	allocSink []byte // written by the alloc goroutine only
	spinSink  atomic.Uint64
)

// RetainHeap allocates totalMiB MiB in chunks of chunkKiB KiB (the last one
// may be smaller), touches every page so it is resident, and keeps it
// reachable. The heap profile samples every 512 KiB on average and misses a chunk of
// c bytes with probability e^(-c / 512 KiB): e^-8 for 4 MiB, e^-32 for 16 MiB.
func (w *Workers) RetainHeap(totalMiB, chunkKiB int) {
	w.Frames.RetainHeap(func() {
		remaining := totalMiB * mib
		chunk := chunkKiB * 1024
		for remaining > 0 {
			n := min(chunk, remaining)
			b := make([]byte, n)
			for i := 0; i < len(b); i += 4096 {
				b[i] = byte(i>>12) | 1
			}
			w.retained = append(w.retained, b)
			remaining -= n
		}
	})
}

// RetainedBytes is what RetainHeap keeps reachable.
func (w *Workers) RetainedBytes() int {
	n := 0
	for _, b := range w.retained {
		n += len(b)
	}
	return n
}

// StartSpin starts n goroutines, each busy for duty of every 10 ms slot
// (duty ≥ 1: a full core, never sleeping).
func (w *Workers) StartSpin(n int, duty float64) {
	busy := time.Duration(float64(10*time.Millisecond) * duty)
	idle := 10*time.Millisecond - busy
	for id := 0; id < n; id++ {
		x := uint64(id) + 1
		go w.Frames.SpinWorker(func() {
			for {
				for t := time.Now(); time.Since(t) < busy; {
					for i := 0; i < 4096; i++ {
						x = x*6364136223846793005 + 1442695040888963407
						x ^= x >> 29
					}
					w.Counters.SpinIterations.Add(4096)
				}
				spinSink.Store(x)
				if idle > 0 {
					time.Sleep(idle)
				}
			}
		})
	}
}

// StartAlloc starts one goroutine allocating mibPerSec MiB/s of short-lived
// objects (32 B … 32 KiB in turn), paced against wall time every 10 ms and
// never bursting more than 1 s worth after a stall. No-op when mibPerSec ≤ 0.
func (w *Workers) StartAlloc(mibPerSec float64) {
	if mibPerSec <= 0 {
		return
	}
	go w.Frames.AllocWorker(func() {
		sizes := [...]int{32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768}
		start := time.Now()
		var done float64
		k := 0
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for range tick.C {
			target := mibPerSec * mib * time.Since(start).Seconds()
			if target-done > mibPerSec*mib {
				done = target - mibPerSec*mib
			}
			for done < target {
				n := sizes[k%len(sizes)]
				k++
				b := make([]byte, n)
				b[0], b[n-1] = 1, 1
				allocSink = b
				done += float64(n)
				w.Counters.AllocBytes.Add(uint64(n))
				w.Counters.AllocObjects.Add(1)
			}
		}
	})
}

// StartMutex starts 4 goroutines contending on one sync.Mutex, each holding it
// for 0.5 ms (≈2000 hand-offs/s). The mutex profile rate is the caller's.
func (w *Workers) StartMutex() {
	var mu sync.Mutex
	for i := 0; i < 4; i++ {
		go w.Frames.MutexWorker(func() {
			for {
				mu.Lock()
				time.Sleep(500 * time.Microsecond) // hold it: the others contend
				w.Counters.MutexAcquisitions.Add(1)
				mu.Unlock()
			}
		})
	}
}

// StartBlock starts 3 consumers and 1 producer (1 ms ticker) on an
// unbuffered channel (≈1000 receives/s). The block profile rate is the caller's.
func (w *Workers) StartBlock() {
	ch := make(chan int)
	for i := 0; i < 3; i++ {
		go w.Frames.BlockConsumer(func() {
			for range ch {
				w.Counters.BlockEvents.Add(1)
			}
		})
	}
	go w.Frames.BlockProducer(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		i := 0
		for range tick.C {
			ch <- i
			i++
		}
	})
}

// StartParked starts exactly n goroutines parked forever on a channel.
func (w *Workers) StartParked(n int) {
	if w.park == nil {
		w.park = make(chan struct{})
	}
	park := w.park
	for i := 0; i < n; i++ {
		go w.Frames.ParkedWorker(func() { <-park })
	}
}
