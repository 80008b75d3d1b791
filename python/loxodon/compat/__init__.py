"""Compatibility layers: other libraries' APIs mapped onto Loxodon's engine.

Each sub-package keeps the names, signatures and meanings of the library it
stands in for (``loxodon.compat.elephas``, ``loxodon.compat.distkeras``,
``loxodon.compat.sparkflow``), and is thin: it translates arguments and
results, and trains through the native ``loxodon`` classes. Their docs:
``docs/compat/<library>.md``.
"""
