"""PyTorch weights to ONNX (export.py): a developer's step, run from this repository; the
runtime (vcam_sr) builds TensorRT engines from the ONNX files itself (vcam_sr/engines)."""
