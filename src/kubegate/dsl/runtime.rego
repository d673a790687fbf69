# Helpers the DSL's compiled rules call. The code generator copies the ones a
# rule uses (and what they call) into the rule's own package, so every compiled
# rule is a self-contained Rego v1 module that OPA or Gatekeeper can run too.
package kubegate.dsl.runtime

import rego.v1

dsl_template_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}

# The pod spec of a Pod, of a workload's pod template, or of a CronJob's job template.
dsl_pod_spec(obj) := obj.spec if obj.kind == "Pod"

dsl_pod_spec(obj) := obj.spec.template.spec if obj.kind in dsl_template_kinds

dsl_pod_spec(obj) := obj.spec.jobTemplate.spec.template.spec if obj.kind == "CronJob"

dsl_pod_metadata(obj) := object.get(obj, "metadata", {}) if obj.kind == "Pod"

dsl_pod_metadata(obj) := object.get(obj.spec.template, "metadata", {}) if obj.kind in dsl_template_kinds

dsl_pod_metadata(obj) := object.get(obj.spec.jobTemplate.spec.template, "metadata", {}) if obj.kind == "CronJob"

# Labels (annotations) of the object, with its pod template's over them.
dsl_labels(obj) := dsl_merged(obj, "labels")

dsl_annotations(obj) := dsl_merged(obj, "annotations")

dsl_merged(obj, field) := {key: dsl_pick(outer, inner, key) | some key in {k | some k, _ in outer} | {k | some k, _ in inner}} if {
	outer := object.get(obj, ["metadata", field], {})
	inner := dsl_pod_map(obj, field)
}

dsl_pod_map(obj, field) := object.get(dsl_pod_metadata(obj), field, {})

dsl_pod_map(obj, _) := {} if not dsl_pod_metadata(obj)

dsl_pick(_, inner, key) := inner[key]

dsl_pick(outer, inner, key) := outer[key] if not key in object.keys(inner)

# ANY container c: containers and init containers.
dsl_containers(obj) := array.concat(object.get(dsl_pod_spec(obj), "containers", []), object.get(dsl_pod_spec(obj), "initContainers", []))

dsl_init_containers(obj) := object.get(dsl_pod_spec(obj), "initContainers", [])

dsl_ephemeral_containers(obj) := object.get(dsl_pod_spec(obj), "ephemeralContainers", [])

# A Kubernetes quantity in base units (OPA's units.parse: 500m -> 0.5, 2Gi -> 2147483648).
dsl_quantity(value) := units.parse(value) if is_string(value)

dsl_quantity(value) := value if is_number(value)

# The namespace of the object under review ("default" when a namespaced object names none).
dsl_namespace(review) := ns if {
	ns := object.get(review, ["object", "metadata", "namespace"], "")
	ns != ""
} else := ns if {
	ns := object.get(review, "namespace", "")
	ns != ""
} else := "default"

# The object's Namespace from data.inventory, or null when the inventory does not have it.
dsl_namespace_object(review) := found if {
	found := data.inventory.cluster.v1.Namespace[dsl_namespace(review)]
} else := null

# A root that may be missing (the old object, the namespace object) as an object to read paths from.
dsl_object(value) := value if is_object(value)

dsl_object(value) := {} if not is_object(value)

dsl_len(value) := count(value) if is_array(value)

dsl_len(value) := count(value) if is_object(value)

dsl_len(value) := count(value) if is_string(value)

dsl_len(value) := count(value) if is_set(value)

dsl_len(value) := 0 if value == null

dsl_coalesce(first, second) := first if first != null

dsl_coalesce(first, second) := second if first == null

# A value as message text: strings as they are, a missing value as <unset>.
dsl_text(value) := value if is_string(value)

dsl_text(value) := "<unset>" if value == null

dsl_text(value) := sprintf("%v", [value]) if {
	not is_string(value)
	value != null
}
