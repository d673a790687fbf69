# METADATA
# scope: package
# title: approved_registries
# custom:
#   id: approved_registries
#   enforcement: deny
#   input: review
#   match:
#     kinds:
#     - apiGroups:
#       - ''
#       kinds:
#       - Pod
#     - apiGroups:
#       - apps
#       kinds:
#       - Deployment
#     - apiGroups:
#       - batch
#       kinds:
#       - CronJob
#     source: Original
#     excludedNamespaces:
#     - kube-system
#   source:
#     file: workloads.kgr
#     line: 5
#     column: 6
#   parameters:
#     registries:
#     - registry.bank.internal/
#   parametersSchema:
#     type: object
#     properties:
#       registries:
#         type: array
#         items:
#           type: string
package kubegate_dsl.approved_registries

import rego.v1

violation contains {"msg": msg, "details": {"rule": "approved_registries", "source": "workloads.kgr:5:6", "container": object.get(c, "name", null), "hooks": [{"name": "ticket", "args": ["security", sprintf("%s: %s", [dsl_text(object.get(input.review.object, ["metadata", "name"], null)), dsl_text(object.get(c, ["image"], null))])]}]}} if {
	some c in dsl_containers(input.review.object)
	not dsl_not_1(c)
	msg := sprintf("image %s of %s is not from an approved registry", [dsl_text(object.get(c, ["image"], null)), dsl_text(object.get(c, ["name"], null))])
}

dsl_not_1(c) if {
	some r in dsl_coalesce(object.get(input, ["parameters", "registries"], ["registry.bank.internal/"]), [])
	is_string(object.get(c, ["image"], null))
	is_string(r)
	startswith(object.get(c, ["image"], null), r)
}

dsl_template_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}

dsl_pod_spec(obj) := obj.spec if {
	obj.kind == "Pod"
}

dsl_pod_spec(obj) := obj.spec.template.spec if {
	obj.kind in dsl_template_kinds
}

dsl_pod_spec(obj) := obj.spec.jobTemplate.spec.template.spec if {
	obj.kind == "CronJob"
}

dsl_containers(obj) := array.concat(object.get(dsl_pod_spec(obj), "containers", []), object.get(dsl_pod_spec(obj), "initContainers", []))

dsl_coalesce(first, second) := first if {
	first != null
}

dsl_coalesce(first, second) := second if {
	first == null
}

dsl_text(value) := value if {
	is_string(value)
}

dsl_text(value) := "<unset>" if {
	value == null
}

dsl_text(value) := sprintf("%v", [value]) if {
	not is_string(value)
	value != null
}

# METADATA
# scope: package
# title: bounded_replicas
# custom:
#   id: bounded_replicas
#   enforcement: dryrun
#   input: review
#   match:
#     kinds:
#     - apiGroups:
#       - apps
#       kinds:
#       - Deployment
#       - StatefulSet
#     source: Original
#   source:
#     file: workloads.kgr
#     line: 11
#     column: 6
#   parameters:
#     max_replicas: 10
#   parametersSchema:
#     type: object
#     properties:
#       max_replicas:
#         type: integer
package kubegate_dsl.bounded_replicas

import rego.v1

violation contains {"msg": msg, "details": {"rule": "bounded_replicas", "source": "workloads.kgr:11:6"}} if {
	is_number(object.get(input.review.object, ["spec", "replicas"], null))
	is_number(object.get(input, ["parameters", "max_replicas"], 10))
	object.get(input.review.object, ["spec", "replicas"], null) > object.get(input, ["parameters", "max_replicas"], 10)
	msg := sprintf("%s %s should set replicas at most %s", [dsl_text(object.get(input.review.object, ["kind"], null)), dsl_text(object.get(input.review.object, ["metadata", "name"], null)), dsl_text(object.get(input, ["parameters", "max_replicas"], 10))])
}

violation contains {"msg": msg, "details": {"rule": "bounded_replicas", "source": "workloads.kgr:11:6"}} if {
	object.get(input.review.object, ["spec", "replicas"], null) == null
	msg := sprintf("%s %s should set replicas at most %s", [dsl_text(object.get(input.review.object, ["kind"], null)), dsl_text(object.get(input.review.object, ["metadata", "name"], null)), dsl_text(object.get(input, ["parameters", "max_replicas"], 10))])
}

dsl_text(value) := value if {
	is_string(value)
}

dsl_text(value) := "<unset>" if {
	value == null
}

dsl_text(value) := sprintf("%v", [value]) if {
	not is_string(value)
	value != null
}

# METADATA
# scope: package
# title: pinned_and_sized
# custom:
#   id: pinned_and_sized
#   enforcement: warn
#   input: review
#   match:
#     kinds:
#     - apiGroups:
#       - ''
#       kinds:
#       - Pod
#   source:
#     file: workloads.kgr
#     line: 16
#     column: 6
package kubegate_dsl.pinned_and_sized

import rego.v1

violation contains {"msg": msg, "details": {"rule": "pinned_and_sized", "source": "workloads.kgr:16:6"}} if {
	every c in dsl_containers(input.review.object) { dsl_all_1(c) }
	msg := sprintf("every container of %s is pinned and small", [dsl_text(object.get(input.review.object, ["metadata", "name"], null))])
}

dsl_all_1(c) if {
	is_string(object.get(c, ["image"], null))
	regex.match("@sha256:", object.get(c, ["image"], null))
	dsl_quantity(object.get(c, ["resources", "limits", "memory"], null)) <= 536870912
}

dsl_template_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}

dsl_pod_spec(obj) := obj.spec if {
	obj.kind == "Pod"
}

dsl_pod_spec(obj) := obj.spec.template.spec if {
	obj.kind in dsl_template_kinds
}

dsl_pod_spec(obj) := obj.spec.jobTemplate.spec.template.spec if {
	obj.kind == "CronJob"
}

dsl_containers(obj) := array.concat(object.get(dsl_pod_spec(obj), "containers", []), object.get(dsl_pod_spec(obj), "initContainers", []))

dsl_quantity(value) := units.parse(value) if {
	is_string(value)
}

dsl_quantity(value) := value if {
	is_number(value)
}

dsl_text(value) := value if {
	is_string(value)
}

dsl_text(value) := "<unset>" if {
	value == null
}

dsl_text(value) := sprintf("%v", [value]) if {
	not is_string(value)
	value != null
}
