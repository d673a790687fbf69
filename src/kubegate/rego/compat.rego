# kubegate's compatibility functions for the regopy backend.
#
# The normaliser (kubegate.rego.normalize) rewrites calls to builtins whose
# rego-cpp implementation differs from OPA into calls to these functions.
package kubegate.compat

import rego.v1

# OPA joins a set in sorted order (topdown/strings.go); rego-cpp in insertion order.
join(delimiter, collection) := concat(delimiter, sort(collection)) if is_set(collection)

else := concat(delimiter, collection)

# rego-cpp rejects the "Z" zone designator that RFC 3339 allows.
rfc3339_ns(value) := time.parse_rfc3339_ns(regex.replace(value, "[zZ]$", "+00:00")) if is_string(value)

# rego-cpp never returns from replace(s, "", x); Go inserts x around every character.
replace_all(s, old, new) := concat(new, array.concat(array.concat([""], split(s, "")), [""])) if old == ""

else := replace(s, old, new)

# rego-cpp's sort of a set is still a set (so sort(s)[0] is undefined); OPA returns an array.
sorted(collection) := [v | some v in sort(collection)]
