"""The test harness: real InvokeAI services and servers, real weights, fixtures, scenes with known answers."""
