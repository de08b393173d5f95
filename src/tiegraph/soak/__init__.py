"""`tiegraph soak`: faults injected under a steady load (runner.py), and the graph comparison
that tells a run with faults from a clean one (snapshot.py, shared with the crash tests)."""
