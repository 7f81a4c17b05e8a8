"""arbdb stages: extract, normalize, load, transform, analyze, report, wired by `pipelines.flows.run`."""
