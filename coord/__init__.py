"""Coordination between the worker processes of one host and between replicas: change
counters that invalidate caches, leader locks for scheduled jobs, login rate limits.

Two backends behind one set of interfaces: in-process (one host; the default: files under
``<data_dir>/run``) and Redis. This package imports nothing else of Wharf's."""
