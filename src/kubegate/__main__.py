"""``python -m kubegate``: the same as the ``kubegate`` command."""

from kubegate.cli.main import main

main()
