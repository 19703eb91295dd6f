"""Collections are dynamic partitions: one per registered collection, keyed by its name."""

import dagster as dg

collections = dg.DynamicPartitionsDefinition(name="collections")
