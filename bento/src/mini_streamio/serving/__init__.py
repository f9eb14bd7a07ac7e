"""The BentoML inference service (thin) over mini_streamio.inference."""
