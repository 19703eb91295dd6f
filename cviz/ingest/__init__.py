"""Ingest: from a collection's sources to its catalogue.

In: a collection's definition (``collection.json``, the CLI's flags, a drop folder), its image
folder or object-store prefix, and its metadata CSV. Out: the catalogue (every file found, usable or
not and why, each usable image's content hash and metadata row) and decoded pixels, through the one
decoder (:mod:`cviz.ingest.decode`).

- ``collection``, ``collection_metadata``, ``templates``: what a collection is and how its titles read
- ``listing``, ``catalogue``, ``catalogue_reuse``: find the files, catalogue them, reuse an unchanged scan
- ``decode``: open, validate, orient and convert an image exactly once
- ``metadata_csv``: the metadata CSV as people actually write it
- ``drop``, ``drop_folder``: folders that become collections; ``sample``: the built-in sample
- image URLs and IIIF (docs/iiif.md): ``fetch`` (polite, bounded HTTP GETs), ``remote_cache`` (fetched
  bodies by URL and validator), ``iiif_image`` (Image API: the size to ask for), ``iiif_manifest``
  (Presentation 3 / 2.1 reader), ``sources`` (rows from a CSV column or a manifest), ``remote_catalogue``
  (the catalogue of such a collection)
"""
