"""Stages: one function per asset, and what surrounds a run of them.

Each stage reads its inputs through storage, calls into ``ingest``, ``embed``, ``arrange``,
``render``, ``measure`` and ``publish``, writes its outputs and returns a report; ``registry``
names them all. Around them: the collection's run ``lock``, ``stamps`` and ``data_versions`` (an
unchanged stage is skipped), ``progress`` of long stages and ``alerts`` for operators.
"""
