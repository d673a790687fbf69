"""Policy lifecycle for the webhook: building policy sets incrementally from a source
(directories, etcd), serving them as immutable snapshots swapped atomically, keeping
the last good version of what fails to load, and rolling changes out as canary or shadow.

Modules: ``builder`` (incremental builds with
last-good fallback), ``snapshot`` (what one review is decided with, canary and shadow routing; the
declarations are read by :mod:`kubegate.policy.rollout`), ``manager``
(the current snapshot, history, status), ``local`` (watched directories),
``etcd`` (the distributed store: push, watch, rollback).
"""
