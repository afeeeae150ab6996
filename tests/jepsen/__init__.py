"""The Jepsen-style harness: fault injection (proxy, nemesis), workload, history and checker."""
