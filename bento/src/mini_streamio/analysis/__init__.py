"""The analysis notebook's logic (notebooks/analysis.ipynb): dataset statistics, duplicates,
MLflow runs, evaluation of a run's weights, and plots. Kept here, typed and tested, so that the
notebook's cells stay short.
"""
