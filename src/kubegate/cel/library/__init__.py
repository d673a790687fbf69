"""Kubernetes' CEL libraries (k8s.io/apiserver ``pkg/cel/library``), one module per
library, each a ``CelExtension`` (overloads of functions the runtime already has,
such as ``indexOf``, can only be added that way; docs/cel-notes.md §3)."""
