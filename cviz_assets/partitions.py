"""Collections are dynamic partitions: one per registered collection, keyed by its name.

(Named ``collection_partitions``, not ``collections``, which would shadow the standard library's
module in every file that imports it.)"""

import dagster as dg

collection_partitions = dg.DynamicPartitionsDefinition(name="collections")
