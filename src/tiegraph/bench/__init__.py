"""`tiegraph bench`: throughput, freshness and query latency against the engines' own limits
(pipeline.py runs it; freshness.py and queries.py measure one figure each)."""
