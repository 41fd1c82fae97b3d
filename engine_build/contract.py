"""The model contract every generator, exported file and inference backend keeps:
RGB float32 in [0, 1], NCHW, any height and width in; exactly SCALE times the size out."""

SCALE = 2
