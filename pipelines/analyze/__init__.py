"""Analyze stage: flagged windows -> verdicts.

Gateway client, prompt, verdict validation, batches, ledger, offline rules and alerts.
"""
