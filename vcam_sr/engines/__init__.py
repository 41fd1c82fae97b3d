"""TensorRT engines built from the shipped ONNX models, and the cache that keeps them."""
