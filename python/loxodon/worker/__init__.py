"""The executor-side Python worker process (``python -m loxodon.worker``)."""
