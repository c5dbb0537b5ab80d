"""Schemathesis hooks for the admin API's fuzz test (tests/suite/admin_contract.rs).

`docs/openapi.json` states every rule of the admin API that JSON Schema can
state, and Schemathesis's `positive_data_acceptance` check holds the service to
it: a request the document allows must not be refused. A few rules of a
catalog write cannot be stated by any schema: they depend on the rest of the
configuration or on the host. For the four catalog writes (schemathesis.toml
turns the built-in check off for those alone) this check takes its place: a
schema-valid write may be refused 400 only when every problem the answer lists
is one of the rules named here.
"""

import re

import schemathesis

# Each rule no schema can state, with why, as the service words its problem.
NAMED_EXCEPTIONS = [
    # A reference to another object of the configuration, which may not exist.
    (r"^agent `[^`]+`: unknown profile `", "an agent names a profile that does not exist"),
    (r"^agent `[^`]+`: trigger names unknown source `", "a trigger names a source that does not exist"),
    (r"^agent `[^`]+`: pull_request, status_comment, outputs, mention and ci_fixes need a profile with a forge$",
     "a forge feature needs the agent's profile (another object) to have a forge"),
    (r"^profile `[^`]+`: forge\.token ", "forge.token names one of the profile's own secrets"),
    (r"^agent `[^`]+`: runner `[a-z-]+` calls its model through the gateway: add ",
     "a preset runner needs its model entry in the agent's profile (another object)"),
    # Time: a secret rotated out is expired now, whatever it was when generated.
    (r"^subscription `[^`]+`: every signing secret has expired$", "secrets whose `until` has passed"),
    # The host's address rule and its allow-lists (HOOKLINE_DELIVERY_ALLOW, HOOKLINE_EGRESS_ALLOW).
    (r"is a loopback, private, link-local or reserved address \(allow-list it with HOOKLINE_(DELIVERY|EGRESS)_ALLOW\)$",
     "an address the host's allow-list does not allow"),
    (r"is plain http to an address that is not allow-listed", "a key sent in clear to an address not allow-listed"),
    # Languages inside a string: a cron expression, a regular expression, a glob, a JSON Schema.
    (r"^agent `[^`]+`: schedule: ", "a cron expression"),
    (r"^agent `[^`]+`: regex `", "a regular expression in a trigger's `where`"),
    (r"^agent `[^`]+`: branch glob `", "a branch glob"),
    (r"^agent `[^`]+`: emits ", "an event type the agent declares: its name against the catalogue, its JSON Schema"),
    (r"event type `[^`]+`", "an event type the agent declares: its name against the catalogue, its JSON Schema"),
]

_PATTERNS = [re.compile(pattern) for pattern, _ in NAMED_EXCEPTIONS]
_CATALOG_WRITE = re.compile(r"^/v1/(sources|profiles|agents|subscriptions)/\{id\}$")


@schemathesis.check
def positive_data_refused_only_by_named_rules(ctx, response, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return None
    if case.method.upper() != "PUT" or not _CATALOG_WRITE.match(case.operation.path):
        return None
    try:
        problems = response.json()["error"].get("problems") or []
    except Exception:  # noqa: BLE001 - an answer that is not the error shape is itself the finding
        problems = []
    unnamed = [p for p in problems if not any(rx.search(p) for rx in _PATTERNS)]
    if not problems or unnamed:
        raise AssertionError(
            "A schema-valid catalog write was refused for a rule the document could state: "
            + ("; ".join(unnamed) if unnamed else response.text[:500])
        )
    return None
