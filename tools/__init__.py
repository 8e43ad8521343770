"""Developer tools: fetching test weights, the demo, the headless server helpers."""
