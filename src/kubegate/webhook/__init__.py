"""The validating admission webhook gate (``kubegate serve``).

Layers inside: ``admission`` (wire format) and ``verdict`` (what to answer),
``denylist``, ``cache``, ``pool`` and ``metrics`` (parts of the decision
path), ``service`` (the decision path), ``app`` (HTTP routes), ``tls``
(certificate rotation), ``certs`` (development certificates), ``server``
(uvicorn wiring), ``logs``.
"""
