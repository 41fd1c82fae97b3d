"""The model contract every generator, exported file and inference backend keeps: luma (Y)
float32 with black at 0 and white at 1, N x 1 x H x W, any height and width in; exactly SCALE
times the size out; a conditioned model also takes the frame's measured noise and blocking
(N x 3, standardised as vcam_sr/upscalers/condition.py does). Colour never passes through a model: the runtime upscales a frame's luma
with the model and its chroma with a filter, so colours leave as they came."""

SCALE = 2
INPUT, OUTPUT = "lr", "sr"  # the graph's tensor names in every exported file and engine
CONDITION = "condition"     # a conditioned model's second input: N x 3 (vcam_sr/upscalers/condition.py)
