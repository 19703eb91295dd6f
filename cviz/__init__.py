"""cviz: image collections to zoomable similarity maps.

This package holds the computation only (no Dagster import), so the Dagster assets in
``cviz_assets`` and the command line share one code path and every stage is testable alone.
"""

__version__ = "0.1.0"
