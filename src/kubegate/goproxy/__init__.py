"""The private Go module proxy (docs/goproxy.md).

A GOPROXY gateway (``app``, ``service``), the license auditor as a kubegate
policy (``licenses``, ``audit``), the vault (``storage``, ``s3storage``,
``vault``) and offline bundles (``bundle``).
"""
