"""Graph-to-graph transforms beside reverse mode (``engine.autodiff``).

- ``forward.jvp``: forward mode, tangent nodes appended to a graph;
- ``vmap.vmap``: a graph written for one example, rewritten for a batch of them;
- ``derivatives``: Jacobians and Hessians as graphs, built from the two above.
"""
from .forward import Tangents, jvp
from .vmap import vmap

__all__ = ["Tangents", "jvp", "vmap"]
