"""ML functions: the ONNX registry, call analysis and planning, batched inference."""
