# A deliberately slow policy (about 0.4 s on the reference machine) for time-limit tests.
# METADATA
# custom:
#   id: deliberately-slow
package webhooktests.slow

import rego.v1

deny contains "never" if {
	input.review.object.metadata.annotations["test/slow"] == "true"
	count([x | some x in numbers.range(1, 100000); x % 7 == 0]) < 0
}
