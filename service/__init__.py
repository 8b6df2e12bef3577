"""Gradserve's HTTP service: FastAPI in front, a pool of engine worker processes behind.

``create_app(settings)`` builds the app; ``python -m service`` serves it.
"""
