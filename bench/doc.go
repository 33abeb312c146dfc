// Package bench measures what the issues ask to be measured: vend latency
// and throughput through the bare store and through loopback HTTP, at 1, 16
// and 64 concurrent clients, in the same run; the vend of a guarded
// template against an unguarded one on moto (BenchmarkVendGuarded);
// notification latency and outbox throughput; a refill against AWS's floor
// (BenchmarkRefill), a demand trace replayed with an auto target against
// fixed ones (BenchmarkDemand), and a store of 100,000 accounts
// (BenchmarkScale). Run it with `make bench`; the figures are reported as
// benchmark metrics.
package bench
