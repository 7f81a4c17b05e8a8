"""Transform stage: features, quality, scoring and the `windows` table (pure pandas + its queries)."""
