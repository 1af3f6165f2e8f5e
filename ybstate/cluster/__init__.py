"""The modelled YaoBase cluster: tenants, tables, tablets, the shared commit log,
transactions, freezes and the ghost history, with the protocols it runs (full backups,
the DAG scheduler) composed into one ``decide``, ``apply`` and ``enabled``.

Pure: no I/O anywhere in this package. Import what you need from its modules:
``ybstate.cluster.spec`` (the model as a Spec), ``.decide``, ``.reducer``, ``.enabled``,
``.state``, ``.events``, ``.actions``, ``.ghost``, ``.fingerprint``. The package itself
imports nothing, so the protocol packages can depend on ``ybstate.cluster.state``
without an import cycle.
"""

__all__: list[str] = []
