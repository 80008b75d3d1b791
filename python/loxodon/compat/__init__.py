"""Compatibility layers: other libraries' APIs mapped onto Loxodon's engine.

Each sub-package (``loxodon.compat.elephas``) keeps the names, signatures and
meanings of the library it stands in for, and is thin: it translates
arguments and results, and trains through the native ``loxodon`` classes.
"""
