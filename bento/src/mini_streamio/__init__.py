"""Mini Streamio, Python side: YOLO training tracked in MLflow, and YOLO inference behind BentoML."""
