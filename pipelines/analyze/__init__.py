"""Analyze stage: flagged windows -> verdicts.

Gateway client, prompt, verdict validation, batches, ledger and offline rules
(alerts are delivery: `pipelines.report.alerts`, handed in as a callback).
"""
