"""kubegate's built-in compliance library: Rego policies shipped as package data.

See docs/library.md for what each policy checks and how to configure it.
"""
