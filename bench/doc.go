// Package bench measures what the issues ask to be measured: vend latency
// and throughput through the bare store and through loopback HTTP, at 1, 16
// and 64 concurrent clients, in the same run. Run it with `make bench`; the
// figures are reported as benchmark metrics (p50-µs, p99-µs, vends/s).
package bench
