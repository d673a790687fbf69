# METADATA
# title: Go modules must carry an allowed license
# description: >-
#   The license gate of kubegate goproxy (docs/goproxy.md). Each license file
#   found in a module zip (input.module.licenses, SPDX expressions in
#   disjunctive normal form as `choices`) is acceptable when one of its
#   alternatives has only ids in `allow`. An id in `deny` rejects; UNKNOWN
#   (unclassifiable or pointer files, no license file) is decided by
#   `unknown`; a known id in neither list by `unlisted`. Each violation's
#   details.verdict is REJECT or REVIEW_REQUIRED. `exceptions` lets one
#   module (or a prefix ending in /*), optionally some versions, through
#   until `expires` (RFC 3339 date or time, compared with input.now).
# custom:
#   id: go-module-license-allowlist
#   input: object
#   severity: high
#   parameters:
#     allow: ["Apache-2.0", "MIT", "BSD-2-Clause", "BSD-3-Clause", "ISC", "MPL-2.0", "0BSD", "CC0-1.0", "Unlicense", "Zlib"]
#     deny: ["GPL-2.0-only", "GPL-2.0-or-later", "GPL-3.0-only", "GPL-3.0-or-later", "AGPL-3.0-only", "AGPL-3.0-or-later", "SSPL-1.0"]
#     unknown: review
#     unlisted: review
#     enforcement: deny
#     exceptions: []
#   parametersSchema:
#     type: object
#     properties:
#       allow: {type: array, items: {type: string}}
#       deny: {type: array, items: {type: string}}
#       unknown: {type: string, enum: [reject, review, allow]}
#       unlisted: {type: string, enum: [reject, review, allow]}
#       enforcement: {type: string, enum: [deny, warn, dryrun]}
#       exceptions:
#         type: array
#         items:
#           type: object
#           required: [module, expires]
#           properties:
#             module: {type: string}
#             versions: {type: array, items: {type: string}}
#             expires: {type: string}
#             reason: {type: string}
package kubegate.goproxy.go_module_license_allowlist

import rego.v1

params := object.get(input, "parameters", {})

rank_of(mode) := 2 if mode == "reject"

rank_of(mode) := 1 if mode == "review"

rank_of(mode) := 0 if mode == "allow"

id_rank(id) := 2 if id in object.get(params, "deny", [])

id_rank(id) := 0 if {
	not id in object.get(params, "deny", [])
	id in object.get(params, "allow", [])
}

id_rank(id) := rank_of(object.get(params, "unknown", "review")) if {
	id == "UNKNOWN"
	not id in object.get(params, "deny", [])
	not id in object.get(params, "allow", [])
}

id_rank(id) := rank_of(object.get(params, "unlisted", "review")) if {
	id != "UNKNOWN"
	not id in object.get(params, "deny", [])
	not id in object.get(params, "allow", [])
}

choice_rank(choice) := max([id_rank(id) | some id in choice])

finding_rank(f) := min([choice_rank(c) | some c in f.choices])

verdict_of(2) := "REJECT"

verdict_of(1) := "REVIEW_REQUIRED"

deadline_ns(e) := time.parse_rfc3339_ns(e.expires) if contains(e.expires, "T")

deadline_ns(e) := time.parse_rfc3339_ns(sprintf("%sT23:59:59Z", [e.expires])) if not contains(e.expires, "T")

now_ns := time.parse_rfc3339_ns(input.now) if input.now

now_ns := time.now_ns() if not input.now

covers(e) if {
	e.module == input.module.path
	version_listed(e)
}

covers(e) if {
	endswith(e.module, "/*")
	startswith(input.module.path, trim_suffix(e.module, "*"))
	version_listed(e)
}

version_listed(e) if not e.versions

version_listed(e) if input.module.version in e.versions

active_exceptions contains e if {
	some e in object.get(params, "exceptions", [])
	covers(e)
	now_ns <= deadline_ns(e)
}

excepted if count(active_exceptions) > 0

violation contains {"msg": msg, "details": details} if {
	not excepted
	some f in input.module.licenses
	rank := finding_rank(f)
	rank > 0
	verdict := verdict_of(rank)
	file := f.file
	msg := message(verdict, f)
	details := {"verdict": verdict, "file": file, "spdx": f.spdx}
}

message(verdict, f) := sprintf("license %s of %s is rejected (allowed: %s)", [f.spdx, where(f), concat(", ", object.get(params, "allow", []))]) if verdict == "REJECT"

message(verdict, f) := sprintf("license %s of %s needs a review before use", [f.spdx, where(f)]) if verdict == "REVIEW_REQUIRED"

where(f) := sprintf("file %s", [f.file]) if f.file != ""

where(f) := "the module (no license file)" if f.file == ""

warn contains {"msg": msg, "details": {"verdict": "PASS", "exception": e}} if {
	some e in active_exceptions
	msg := sprintf("license exception for %s until %s: %s", [e.module, e.expires, object.get(e, "reason", "")])
}

warn contains {"msg": msg, "details": {"verdict": "PASS", "expiredException": e}} if {
	some e in object.get(params, "exceptions", [])
	covers(e)
	now_ns > deadline_ns(e)
	msg := sprintf("license exception for %s expired on %s", [e.module, e.expires])
}
