"""Drop-in front ends for code written against other Spark + Keras libraries
(``loxodon.compat.distkeras``: dist-keras); each maps onto Loxodon's own engine."""
