"""engagectl's benchmarks: speed and memory targets, each printed as a ratio to its baseline."""
