"""Constants shaped like their input: ``zeros_like`` and ``ones_like`` (autodiff's zero
cotangents and seeds). No gradient: the value does not depend on the input's."""
from __future__ import annotations

import numpy as np

from .registry import defop
from .rules import elementwise_batch, unary

defop("zeros_like", aliases=("ZerosLike",), infer=unary("any"), forward=np.zeros_like,
      batch=elementwise_batch)
defop("ones_like", aliases=("OnesLike",), infer=unary("any"), forward=np.ones_like,
      batch=elementwise_batch)
