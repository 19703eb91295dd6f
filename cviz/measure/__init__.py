"""Measure: nearest neighbours and how well a layout keeps them.

In: vectors (features, PCA rows) and arrangements (2-D points, grid cells). Out: neighbour lists
and quality figures (kNN preservation, label agreement, DPQ) and small plots for asset metadata.
Used by the stages that arrange and publish; imports nothing of theirs.

- ``knn``: the exact/approximate k-nearest-neighbour engine every stage shares
- ``quality``: kNN preservation and label agreement; ``dpq``: distance preservation quality of a grid
- ``plots``: PNG plots for the Dagster UI
"""
