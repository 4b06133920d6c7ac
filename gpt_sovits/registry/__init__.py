"""Model registry: which model files exist, and (with the inference issue) loading them once per process."""
