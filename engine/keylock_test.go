package engine

import (
	"fmt"
	"sync"
	"testing"
)

// One key's holders never overlap, and keys locked and released leave no
// entry behind (a lessee's flood of lease ids grows nothing).
func TestKeyLocksExcludeAndForget(t *testing.T) {
	var (
		k        keyLocks
		wg       sync.WaitGroup
		in, peak int
		mu       sync.Mutex
	)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer k.lock("lease")()
			defer k.lock(fmt.Sprint("other-", i))()
			mu.Lock()
			in++
			if in > peak {
				peak = in
			}
			mu.Unlock()
			mu.Lock()
			in--
			mu.Unlock()
		}()
	}
	wg.Wait()
	if peak != 1 {
		t.Fatalf("%d holders of one key at once, want 1", peak)
	}
	if n := k.len(); n != 0 {
		t.Fatalf("%d entries left after every lock was released", n)
	}
}
