"""Side-by-side benchmark of Wharf against the reference registry (raw HTTP registry API).

Run ``python -m bench --help``; see ``bench/README.md``.
"""

__all__: list[str] = []
