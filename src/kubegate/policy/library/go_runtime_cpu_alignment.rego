# METADATA
# title: Go containers should size GOMAXPROCS to their CPU limit
# description: >-
#   Warns when a container with a CPU limit sets GOMAXPROCS above the limit's
#   whole cores (max(1, floor(limit))), which makes the Go scheduler fight CFS
#   throttling, and when a container labeled kubegate.io/runtime: go (on the
#   pod or its template) has a CPU limit but no GOMAXPROCS. A GOMAXPROCS taken
#   from the limit with valueFrom.resourceFieldRef is aligned by construction.
# custom:
#   id: go-runtime-cpu-alignment
#   enforcement: warn
#   severity: low
#   match:
#     source: Original
#     kinds:
#     - apiGroups: [""]
#       kinds: ["Pod", "ReplicationController"]
#     - apiGroups: ["apps"]
#       kinds: ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"]
#     - apiGroups: ["batch"]
#       kinds: ["Job", "CronJob"]
package kubegate.library.go_runtime_cpu_alignment

import rego.v1

import data.kubegate.library.workloads

whole_cores(limit) := max([1, floor(units.parse(limit))])

gomaxprocs(c) := [env | some env in object.get(c, "env", []); env.name == "GOMAXPROCS"]

violation contains {"msg": msg, "details": {"container": c.name, "gomaxprocs": value, "cpuLimit": limit}} if {
	some entry in workloads.runnable(input.review.object)
	c := entry.container
	limit := c.resources.limits.cpu
	some env in gomaxprocs(c)
	value := env.value
	regex.match("^[0-9]+$", value)
	cores := whole_cores(sprintf("%v", [limit]))
	to_number(value) > cores
	msg := sprintf("%v %q sets GOMAXPROCS=%v above its CPU limit of %v (%v whole cores)", [entry.type, c.name, value, limit, cores])
}

violation contains {"msg": msg, "details": {"container": c.name, "gomaxprocs": value}} if {
	some entry in workloads.runnable(input.review.object)
	c := entry.container
	c.resources.limits.cpu
	some env in gomaxprocs(c)
	value := env.value
	not regex.match("^[0-9]+$", value)
	msg := sprintf("%v %q sets GOMAXPROCS=%q, which is not a whole number", [entry.type, c.name, value])
}

violation contains {"msg": msg, "details": {"container": c.name, "cpuLimit": limit}} if {
	obj := input.review.object
	workloads.labels(obj)["kubegate.io/runtime"] == "go"
	some entry in workloads.runnable(obj)
	c := entry.container
	limit := c.resources.limits.cpu
	count(gomaxprocs(c)) == 0
	msg := sprintf("%v %q is a Go container with a CPU limit of %v but no GOMAXPROCS", [entry.type, c.name, limit])
}
