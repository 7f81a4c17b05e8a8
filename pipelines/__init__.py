"""arbdb stages: extract, normalize, load, transform, analyze, report, wired by `pipelines.flows`
(run: one window and the scheduled cycle; backfill: a range of days)."""
