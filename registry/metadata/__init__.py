"""Metadata stores: what exists, what references what. SQLite embedded; PostgreSQL for HA."""
