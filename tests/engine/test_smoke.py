"""A first check that the engine's pieces fit: FD on a few ops, second order on tanh."""

from .gradcheck import check_second_order, check_vjp, rand


def test_tanh_and_mul_broadcast():
    check_vjp("tanh", [rand(3, 4)])
    check_vjp("mul", [rand(3, 1), rand(1, 4, seed=1)])


def test_matmul_transposes():
    check_vjp("matmul", [rand(3, 2), rand(4, 3, seed=1)],
              {"transpose_a": True, "transpose_b": True})


def test_second_order_tanh():
    nodes = [{"name": "x", "op": "placeholder", "shape": [5], "dtype": "float64"},
             {"name": "t", "op": "tanh", "inputs": ["x"]},
             {"name": "y", "op": "sum", "inputs": ["t"]}]
    check_second_order(nodes, {"x": rand(5)}, "y", "x")
