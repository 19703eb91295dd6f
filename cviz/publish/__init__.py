"""Publish: from a built version to a map readers can open.

In: a rendered pyramid, the catalogue, the grid and the neighbour lists. Out: the viewer's files of
a version (items, regions, neighbours, vocabulary), the checks that must pass before it goes live,
and the one pointer switch (``current.json``) that makes it live; old versions retired.

- ``versions``: versions, the pointer, the index of collections; ``layout_versions``: layout versions
- ``items``: the viewer's item table; ``regions``: named regions; ``similar``: "more like this";
  ``vocabulary``: value filters
- ``verify``: checks on outputs; ``retire``: removing a collection on purpose
"""
