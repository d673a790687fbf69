# A hostile policy for the time-limit fault tests: seconds of work on any Pod
# (numbers.range builds a 3,000,000-element array, then a comprehension walks it).
# METADATA
# custom:
#   id: hostile-loop
package webhooktests.hostile

import rego.v1

deny contains "never" if {
	input.review.object.kind == "Pod"
	count([x | some x in numbers.range(1, 3000000); x % 7 == 0]) < 0
}
