"""Arrange: from vectors to places on the map.

In: PCA rows (and dates and categories for the other layouts). Out: 2-D t-SNE points, one grid cell
per item for the similarity map, and the timeline and category arrangements.

- ``tsne``: the 2-D embedding (openTSNE; MulticoreTSNE optional)
- ``grid``: grid assignment methods (a registry); ``refine``: swap refinement; ``rasterfairy_compat``
- ``layouts``: arrangements by date and by category
"""
