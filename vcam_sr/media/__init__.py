"""Frames in and out, colour-exact: the YUV <-> RGB conversions, PyAV frames as planes, resizing,
the video Reader and Writer, and still images."""
