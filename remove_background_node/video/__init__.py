"""Remove Video Background's own parts: temporal matte stabilisation, the frame-by-frame stream, and the source's
frame rate and sound (container)."""
