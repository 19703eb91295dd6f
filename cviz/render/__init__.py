"""Render: from cells to a Deep Zoom pyramid.

In: a grid (which item sits in which cell) and each item's decoded image. Out: cell thumbnails
(cached by content hash), the full-resolution mosaic as the pyramid's top level, its lower levels
and the ``.dzi`` descriptor; tiles that did not change are linked from the previous version.

- ``cells``: cell-sized thumbnails and item images; ``mosaic``, ``mosaic_blocks``: the top levels
- ``levels``: the lower levels; ``dzi``: the Deep Zoom geometry and XML
- ``tile_writer``: many small files at storage speed; ``tile_reuse``: which tiles are unchanged
"""
