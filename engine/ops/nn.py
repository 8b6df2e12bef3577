"""Neural-network ops: softmax, log_softmax, cross-entropies, l2_loss, conv2d, pools."""
from __future__ import annotations
