"""Training: dataset versions from MinIO, model resolution, Ultralytics runs tracked in MLflow."""
