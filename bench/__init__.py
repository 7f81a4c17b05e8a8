"""`make bench`: throughput, memory, window computation and LLM batching figures."""
