"""Compatibility front ends for users of earlier Spark deep-learning libraries.

``loxodon.compat.sparkflow`` keeps SparkFlow's ``SparkAsyncDL`` API (its param
names and meanings) over Loxodon's Spark ML stages; see
``docs/compat/sparkflow.md``. The Elephas names live at the top of the package
(``loxodon.SparkModel``, ``loxodon.utils``, ``loxodon.mllib``).
"""
