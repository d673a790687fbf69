"""kubegate's CEL runtime: expressions compiled once with cel-expr-python (the CEL
team's Python runtime over cel-cpp), evaluated many times, errors located in the
YAML they were written in. See docs/cel-notes.md for the measured design."""
