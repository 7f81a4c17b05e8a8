"""arbdb jobs: what runs when (scheduler, job functions) and the `arbdb` CLI."""
