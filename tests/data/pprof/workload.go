// workload.go - the program whose CPU and heap profiles are the pprof
// fixtures of profcol's tests (see README.md beside it for the command).
//
// It is built to give the profiles what the conversion must keep: deep and
// recursive stacks, functions the compiler inlines (so locations carry
// several lines), samples with pprof labels (runtime/pprof.Do), several
// goroutines, and heap allocations of different sizes from different call
// sites, some kept live and some freed (inuse_* differs from alloc_*).
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

var sink uint64

// mix is small enough for the compiler to inline into its callers.
func mix(x uint64) uint64 { return x*6364136223846793005 + 1442695040888963407 }

func fib(n int) uint64 {
	if n < 2 {
		return mix(uint64(n))
	}
	return fib(n-1) + fib(n-2)
}

func hashLoop(n int) uint64 {
	h := uint64(1)
	for i := 0; i < n; i++ {
		h = mix(h ^ uint64(i))
	}
	return h
}

func spin(deadline time.Time, work func() uint64) {
	for time.Now().Before(deadline) {
		sink += work()
	}
}

func cpuWork(d time.Duration) {
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for _, w := range []struct {
		name string
		work func() uint64
	}{
		{"fib", func() uint64 { return fib(22) }},
		{"hash", func() uint64 { return hashLoop(50000) }},
	} {
		w := w
		wg.Add(1)
		go func() {
			defer wg.Done()
			labels := pprof.Labels("worker", w.name, "tier", "batch")
			pprof.Do(context.Background(), labels, func(context.Context) { spin(deadline, w.work) })
		}()
	}
	spin(deadline, func() uint64 { return hashLoop(1000) })
	wg.Wait()
}

var live [][]byte

func allocSmall(n int) {
	for i := 0; i < n; i++ {
		b := make([]byte, 64)
		if i%4 == 0 {
			live = append(live, b)
		}
	}
}

func allocLarge(n int) {
	for i := 0; i < n; i++ {
		b := make([]byte, 64<<10)
		if i%2 == 0 {
			live = append(live, b)
		}
	}
}

func heapWork() {
	allocSmall(20000)
	allocLarge(200)
	runtime.GC()
}

func main() {
	cpuOut := flag.String("cpu", "cpu.pb.gz", "CPU profile to write")
	heapOut := flag.String("heap", "heap.pb.gz", "heap profile to write")
	seconds := flag.Duration("for", 2*time.Second, "how long to burn CPU")
	flag.Parse()
	runtime.MemProfileRate = 4096

	f, err := os.Create(*cpuOut)
	if err != nil {
		log.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Fatal(err)
	}
	cpuWork(*seconds)
	pprof.StopCPUProfile()
	f.Close()

	heapWork()
	h, err := os.Create(*heapOut)
	if err != nil {
		log.Fatal(err)
	}
	if err := pprof.WriteHeapProfile(h); err != nil {
		log.Fatal(err)
	}
	h.Close()
}
