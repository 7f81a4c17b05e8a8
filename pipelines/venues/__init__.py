"""Venues: one module per exchange (id, channel, symbol rules, normalizer, settlement rule), a registry."""
