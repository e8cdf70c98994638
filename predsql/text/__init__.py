"""Text functions: ONNX models over token tensors, called with VARCHAR arguments.

`config.py` reads the registry keys (`tokenizer`, `max_length`, `pooling`,
`normalize`, `text_pair`) and derives the SQL signature from the graph;
`runtime.py` tokenizes a whole batch, sorts it by token length, runs padded
sub-batches on the worker threads and pools the outputs; `packages.py` finds
files inside installed Python packages (`package://name/path`).
"""
