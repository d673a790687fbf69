# METADATA
# scope: package
# title: payment_pods_require_seccomp
# custom:
#   id: payment_pods_require_seccomp
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
#       - StatefulSet
#       - DaemonSet
#     - apiGroups:
#       - batch
#       kinds:
#       - Job
#       - CronJob
#     source: Original
#   source:
#     file: pci.kgr
#     line: 4
#     column: 6
#   severity: high
package kubegate_dsl.payment_pods_require_seccomp

import rego.v1

violation contains {"msg": msg, "details": {"rule": "payment_pods_require_seccomp", "source": "pci.kgr:4:6", "severity": "high", "container": object.get(c, "name", null)}} if {
	object.get(dsl_labels(input.review.object), ["kubegate.io/pci-scope"], null) == "true"
	some c in dsl_containers(input.review.object)
	not object.get(c, ["securityContext", "seccompProfile", "type"], null) in {"RuntimeDefault", "Localhost"}
	msg := sprintf("container %s must use a RuntimeDefault or Localhost seccomp profile", [dsl_text(object.get(c, ["name"], null))])
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

dsl_pod_metadata(obj) := object.get(obj, "metadata", {}) if {
	obj.kind == "Pod"
}

dsl_pod_metadata(obj) := object.get(obj.spec.template, "metadata", {}) if {
	obj.kind in dsl_template_kinds
}

dsl_pod_metadata(obj) := object.get(obj.spec.jobTemplate.spec.template, "metadata", {}) if {
	obj.kind == "CronJob"
}

dsl_labels(obj) := dsl_merged(obj, "labels")

dsl_merged(obj, field) := {key: dsl_pick(outer, inner, key) | some key in {k | some k, _ in outer} | {k | some k, _ in inner}} if {
	outer := object.get(obj, ["metadata", field], {})
	inner := dsl_pod_map(obj, field)
}

dsl_pod_map(obj, field) := object.get(dsl_pod_metadata(obj), field, {})

dsl_pod_map(obj, _) := {} if {
	not dsl_pod_metadata(obj)
}

dsl_pick(_, inner, key) := inner[key]

dsl_pick(outer, inner, key) := outer[key] if {
	not key in object.keys(inner)
}

dsl_containers(obj) := array.concat(object.get(dsl_pod_spec(obj), "containers", []), object.get(dsl_pod_spec(obj), "initContainers", []))

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
# title: big_memory
# custom:
#   id: big_memory
#   enforcement: warn
#   input: review
#   match:
#     kinds:
#     - apiGroups:
#       - ''
#       kinds:
#       - Pod
#   source:
#     file: pci.kgr
#     line: 11
#     column: 6
#   severity: low
package kubegate_dsl.big_memory

import rego.v1

violation contains {"msg": msg, "details": {"rule": "big_memory", "source": "pci.kgr:11:6", "severity": "low", "container": object.get(c, "name", null), "hooks": [{"name": "notify", "args": [sprintf("team-%s", [dsl_text(object.get(dsl_labels(input.review.object), ["team"], null))]), object.get(c, ["name"], null)]}]}} if {
	some c in dsl_containers(input.review.object)
	dsl_quantity(object.get(c, ["resources", "limits", "memory"], null)) > 2147483648
	msg := sprintf("%s: {literal} %s", [dsl_text(object.get(c, ["name"], null)), dsl_text(object.get(c, ["resources", "limits", "memory"], null))])
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

dsl_pod_metadata(obj) := object.get(obj, "metadata", {}) if {
	obj.kind == "Pod"
}

dsl_pod_metadata(obj) := object.get(obj.spec.template, "metadata", {}) if {
	obj.kind in dsl_template_kinds
}

dsl_pod_metadata(obj) := object.get(obj.spec.jobTemplate.spec.template, "metadata", {}) if {
	obj.kind == "CronJob"
}

dsl_labels(obj) := dsl_merged(obj, "labels")

dsl_merged(obj, field) := {key: dsl_pick(outer, inner, key) | some key in {k | some k, _ in outer} | {k | some k, _ in inner}} if {
	outer := object.get(obj, ["metadata", field], {})
	inner := dsl_pod_map(obj, field)
}

dsl_pod_map(obj, field) := object.get(dsl_pod_metadata(obj), field, {})

dsl_pod_map(obj, _) := {} if {
	not dsl_pod_metadata(obj)
}

dsl_pick(_, inner, key) := inner[key]

dsl_pick(outer, inner, key) := outer[key] if {
	not key in object.keys(inner)
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
