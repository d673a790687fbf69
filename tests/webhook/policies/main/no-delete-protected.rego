# METADATA
# custom:
#   id: protected-objects-stay
package webhooktests.protected

import rego.v1

# DELETE: the object under review is the old object (Gatekeeper semantics).
deny contains msg if {
	input.review.operation == "DELETE"
	input.review.oldObject.metadata.labels["kubegate.io/protected"] == "true"
	msg := sprintf("%v %v is protected and cannot be deleted", [input.review.kind.kind, input.review.oldObject.metadata.name])
}

# UPDATE: the owner label may not change.
deny contains msg if {
	input.review.operation == "UPDATE"
	old := input.review.oldObject.metadata.labels.owner
	new := object.get(input.review.object.metadata, ["labels", "owner"], "")
	old != new
	msg := sprintf("owner label may not change (was %v, now %v)", [old, new])
}

# CONNECT: no exec into pods in the payments namespace.
deny contains "exec into payments pods is not allowed" if {
	input.review.operation == "CONNECT"
	input.review.kind.kind == "PodExecOptions"
	input.review.namespace == "payments"
}
