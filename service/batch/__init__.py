"""Batch jobs: per-example gradients of one graph over a dataset of feed sets, on Ray.

``python -m service.batch --graph G.json --feeds DATA --out OUT`` (see ``__main__``).
``examples`` reads feed sets and computes per-example gradients with the engine alone (no
Ray: the single-process baseline and what each actor runs); ``job`` is the Ray Data
pipeline. Ray is an optional extra: ``pip install -e '.[ray]'``.
"""
