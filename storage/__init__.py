"""Persistence for Tocsin: SQLModel tables, the async engine, queries and migrations.

This package imports neither ``bot`` nor ``adapters``: it is the bottom layer.
"""
