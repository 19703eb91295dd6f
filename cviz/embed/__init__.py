"""Embed: from decoded images to feature vectors and their PCA.

In: the catalogue's usable images. Out: one feature vector per item (``features.npy``, cached per
image content hash in the feature store), and its PCA (``pca.npy`` plus the fit, kept across updates).

- ``models/``: the feature models (Keras reference, LiteRT runtime), weights read offline
- ``features``: the decode -> infer loop; ``feature_store``: packed cached vectors; ``chunks``: work split for many workers
- ``pca``: the reduction before t-SNE
"""
