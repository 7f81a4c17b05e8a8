"""Loopback stand-ins for the outside world: a Tardis-compatible server and an OpenAI-compatible one.

They back `arbdb demo`, `arbdb sample-server`, the benchmarks and the tests; nothing here talks to
the internet.
"""
