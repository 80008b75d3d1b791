"""Elephas's ``elephas.ml`` package (its ``adapter`` module)."""
