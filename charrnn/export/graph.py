"""A small builder for ONNX graphs: nodes, constants, and fresh names for the values between them."""

import numpy as np
from onnx import helper, numpy_helper


class Graph:
    """The nodes and constants of one graph (or a Scan body) of a given float dtype."""

    def __init__(self, dtype, prefix=""):
        self.dtype = np.dtype(dtype)
        self.elem_type = helper.np_dtype_to_tensor_dtype(self.dtype)
        self.prefix, self.nodes, self.initializers, self.count = prefix, [], [], 0

    def fresh(self, hint):
        self.count += 1
        return f"{self.prefix}{hint}_{self.count}"

    def const(self, array, hint="const"):
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def ints(self, values):
        return self.const(np.array(values, np.int64), "ints")

    def op(self, op_type, *inputs, outputs=None, n_out=1, **attrs):
        """Add a node; returns its output name (a list when it has several)."""
        outputs = outputs or [self.fresh(op_type) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outputs, **attrs))
        return outputs if len(outputs) > 1 else outputs[0]

    def split(self, x, sizes, axis=-1):
        return self.op("Split", x, self.ints(sizes), n_out=len(sizes), axis=axis)

    def value(self, name, shape, elem_type=None):
        return helper.make_tensor_value_info(name, elem_type or self.elem_type, shape)

    def graph(self, name, inputs, outputs, doc=""):
        return helper.make_graph(self.nodes, name, inputs, outputs, self.initializers, doc_string=doc)
