def to_onnx(graph, outputs): raise NotImplementedError
