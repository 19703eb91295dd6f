"""Registering a collection from the Dagster UI: a small job whose run config is the collection.

Launch ``register_collection`` from the Launchpad with the collection's name, images folder or
glob, metadata CSV and templates; it validates everything, writes ``collection.json`` and adds the
partition, which can then be materialized like any other.
"""


import dataclasses
import os
import typing

import dagster as dg
import pydantic

from cviz.ingest.collection import CollectionConfig, config_fields, field_default
from cviz.ingest.collection_metadata import check_label_columns, check_templates, read_metadata
from cviz.stages.common import register
from cviz_assets.partitions import collection_partitions
from cviz_resources import StorageResource


def spec_model(config_cls: type = CollectionConfig) -> type[dg.Config]:
    """The register job's run config, derived from the collection's fields (names, types, defaults
    and help, shown in the Launchpad): one declaration in cviz.ingest.collection."""
    hints = typing.get_type_hints(config_cls)
    namespace: dict = {"__module__": __name__, "__annotations__": {},
                       "__doc__": "A collection to register (see cviz.ingest.collection.CollectionConfig)."}
    for f in config_fields(config_cls):
        namespace["__annotations__"][f.name] = hints[f.name]
        default = field_default(f)
        namespace[f.name] = (pydantic.Field(description=f.metadata["help"]) if default is dataclasses.MISSING
                             else pydantic.Field(default=default, description=f.metadata["help"]))
    return type("CollectionSpec", (dg.Config,), namespace)


CollectionSpec = spec_model()


def register_spec(instance: dg.DagsterInstance, storage: StorageResource, spec: dict,
                  owner: str | None = None) -> CollectionConfig:
    """Validate (templates and label columns against the CSV header too), write the config, add the partition.
    A IIIF manifest is not fetched here: its columns are checked when the ``images`` step reads it.

    ``owner``: the run that holds the collection's lock and will build it (``cviz run``).
    """
    return register_config(instance, storage, validated_spec(storage, spec), owner)


def validated_spec(storage: StorageResource, spec: dict) -> CollectionConfig:
    """The collection ``spec`` describes, checked against its metadata CSV; nothing written.

    Local paths are stored absolute: ``-imagedir photos`` means the folder where the command ran,
    not wherever a later run (the daemon, another shell) happens to start.
    """
    spec = {**spec, **{k: absolute(spec[k]) for k in ("images", "metadata") if spec.get(k)}}
    config = CollectionConfig.from_dict(spec)
    table = read_metadata(config, storage.storage_options)
    check_templates(config, table)
    if not config.iiif_manifest:  # a manifest's columns are known once it is read (the images step checks them)
        check_label_columns(config, table)
    return config


def register_config(instance: dg.DagsterInstance, storage: StorageResource, config: CollectionConfig,
                    owner: str | None = None) -> CollectionConfig:
    """Write a validated config (``validated_spec``) and add its partition."""
    register(storage.get(), config, owner=owner)
    if not instance.has_dynamic_partition(collection_partitions.name, config.name):
        instance.add_dynamic_partitions(collection_partitions.name, [config.name])
    return config


def absolute(path: str) -> str:
    """A local path made absolute (``~`` expanded); a URL (``s3://...``) as it is."""
    if "://" in path:
        return path
    return os.path.abspath(os.path.expanduser(path))


@dg.op
def register_collection_op(context: dg.OpExecutionContext, config: CollectionSpec, storage: StorageResource) -> None:
    registered = register_spec(context.instance, storage, config.model_dump())
    context.log.info(f"registered collection {registered.name}; materialize its partition to build the map")


@dg.job(description="Register (or update) a collection: validates it, writes collection.json, adds the partition.")
def register_collection() -> None:
    register_collection_op()
