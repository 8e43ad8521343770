"""Remove Video Background's own parts: temporal matte stabilisation and the frame-by-frame stream."""
