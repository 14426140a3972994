"""The differentiable operations, one module per family, each op a `Function`."""
