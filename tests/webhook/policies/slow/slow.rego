# A deliberately slow policy for time-limit tests: about 0.5 s with the compiled
# backend and 1.1 s with regopy on the reference machine (250,000 steps of a
# comprehension over two small ranges, so no single builtin call takes long:
# the compiled backend can be stopped between any two steps).
# METADATA
# custom:
#   id: deliberately-slow
package webhooktests.slow

import rego.v1

deny contains "never" if {
	input.review.object.metadata.annotations["test/slow"] == "true"
	count([x | some i in numbers.range(1, 500); some j in numbers.range(1, 500); x := i * j; x % 7 == 0]) < 0
}
