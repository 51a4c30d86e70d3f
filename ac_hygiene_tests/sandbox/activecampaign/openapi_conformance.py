"""Checks of requests and responses against ActiveCampaign's published v3 OpenAPI (a subset).

`assert_request_conforms(method, path, params, json_body)` is for client tests: it fails, with a
message naming the problem, when a request uses an endpoint, a query parameter, a parameter value
or a body key that the API does not document. Record the client's requests on the sandbox
(`create_app(..., record_requests=True)`) and check them all::

    for r in app.state.sandbox.recorded:
        assert_request_conforms(r.method, r.path, r.params, r.json_body)

`assert_response_conforms(...)` is the sandbox's own conformance check against the examples.

What the OpenAPI subset lacks but ActiveCampaign documents elsewhere (the reference notes in
activecampaign-api.md) is in `SUPPLEMENT` below, each entry with its source, so that checks stay
strict everywhere else. Ids are accepted as numbers or numeric strings wherever the spec says
either: ActiveCampaign coerces them, and its own examples send both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

SPEC_PATH = Path(__file__).with_name("activecampaign-v3-openapi.json")
API_PREFIX = "/api/3"

# Paging parameters every collection read takes (ActiveCampaign's pagination guide), which the
# subset declares on only some endpoints.
PAGING = {"limit": {"type": "integer"}, "offset": {"type": "integer"}}

# Documented in activecampaign-api.md but missing from the OpenAPI subset.
SUPPLEMENT: dict[tuple[str, str], dict[str, Any]] = {
    # "include= is undocumented for this endpoint but widely used" (M); `ids[]` is the spelling
    # the `ids` parameter's own description uses.
    ("GET", "/contacts"): {
        "params": {"include": {"type": "string"}, "ids[]": {"type": "integer"}, **PAGING}
    },
    # "GET /contactLists (account-wide memberships)" (H)
    ("GET", "/contactLists"): {"params": dict(PAGING)},
    # "GET /contactTags (account-wide): filters are filters[subscriberid] and filters[tagid]" (H)
    ("GET", "/contactTags"): {
        "params": {
            "filters[subscriberid]": {"type": "integer"},
            "filters[tagid]": {"type": "integer"},
            **PAGING,
        }
    },
    ("GET", "/contacts/{id}/contactTags"): {"params": {}},
    ("GET", "/fieldValues"): {"params": dict(PAGING)},
    ("GET", "/tags"): {"params": dict(PAGING)},
    ("GET", "/lists"): {"params": dict(PAGING)},
    ("GET", "/fields"): {"params": dict(PAGING)},
    # "Automations run unless exclude_automations:true" (H), per contact and per request
    ("POST", "/import/bulk_import"): {
        "body": {
            "exclude_automations": {"type": "boolean"},
            "contacts[]": {"exclude_automations": {"type": "boolean"}},
        }
    },
}

# Record fields the live API returns that the subset's (2018-2021) examples predate, per record
# type, with their JSON types. Sources: ac_hygiene/sandbox/activecampaign/SHAPES.md. The sandbox
# must return every one of them (test_conformance), and they count as documented for the checks.
_AUDIT = {
    "created_timestamp": {"string"},
    "updated_timestamp": {"string"},
    "created_by": {"null", "string"},
    "updated_by": {"null", "string"},
}
LIVE_RECORD_FIELDS: dict[str, dict[str, set[str]]] = {
    "contact": {
        **_AUDIT,
        "email_empty": {"boolean"},
        "orgname": {"string"},
        "mpp_tracking": {"string"},
        "last_click_date": {"null", "string"},
        "last_open_date": {"null", "string"},
        "last_mpp_open_date": {"null", "string"},
    },
    "contact.links": {"accountContacts": {"string"}, "automationEntryCounts": {"string"}},
    "list": dict(_AUDIT),
    "tag": {**_AUDIT, "subscriber_count": {"string"}},
    "contactTag": dict(_AUDIT),
    "contactList": dict(_AUDIT),
}

# Top-level keys whose values are records, and the record type they hold.
RECORD_TYPES = {
    "contacts": "contact",
    "contact": "contact",
    "contactLists": "contactList",
    "contactList": "contactList",
    "contactTags": "contactTag",
    "contactTag": "contactTag",
    "fieldValues": "fieldValue",
    "fieldValue": "fieldValue",
    "lists": "list",
    "list": "list",
    "tags": "tag",
    "tag": "tag",
    "fields": "field",
    "field": "field",
    "user": "user",
}


@lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")


def api_path(path: str) -> str:
    """`/contacts/5` from a full URL or `/api/3/contacts/5`, query string dropped."""
    path = urlsplit(path).path if "://" in path else path.split("?", 1)[0]
    if path.startswith(API_PREFIX):
        path = path[len(API_PREFIX) :]
    return "/" + path.strip("/")


def find_operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    """(path template, OpenAPI operation) of a request; AssertionError if it is not documented."""
    method, path = method.upper(), api_path(path)
    candidates = list(spec()["paths"].items()) + [
        (tpl, {m.lower(): {}}) for (m, tpl) in SUPPLEMENT if m == method
    ]
    for template, operations in candidates:
        operation = operations.get(method.lower())
        if operation is not None and _template_regex(template).match(path):
            return template, operation
    raise AssertionError(f"{method} {path}: not an endpoint of the ActiveCampaign v3 API")


def _query_params(operation: dict[str, Any], method: str, template: str) -> dict[str, Any]:
    declared = {
        p["name"]: p.get("schema", {})
        for p in operation.get("parameters", [])
        if p.get("in") == "query"
    }
    declared.update(SUPPLEMENT.get((method, template), {}).get("params", {}))
    return declared


def _param_schema(declared: dict[str, Any], name: str) -> dict[str, Any] | None:
    if name in declared:
        return declared[name]
    for pattern, schema in declared.items():  # `filters[name][<operator>]` style names
        if "<" in pattern:
            regex = re.escape(pattern).replace(re.escape("<operator>"), "[A-Za-z_]+")
            if re.fullmatch(regex, name):
                return schema
    return None


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?(\.\d+)?(Z|[+-]\d{2}:?\d{2})?)?")


def _param_value_problem(schema: dict[str, Any], value: str) -> str | None:
    kind = schema.get("type")
    if kind == "integer" and not re.fullmatch(r"-?\d+", value):
        return "must be an integer"
    if kind == "number":
        try:
            float(value)
        except ValueError:
            return "must be a number"
    if schema.get("format") == "date" and not _DATE.fullmatch(value):
        return "must be a date (YYYY-MM-DD or ISO 8601)"
    enum = schema.get("enum")
    if enum and value.casefold() not in {str(e).casefold() for e in enum}:
        return f"must be one of {enum}"
    return None


def _pairs(params: Any) -> list[tuple[str, str]]:
    if params is None:
        return []
    if isinstance(params, Mapping):
        items: Iterable[tuple[str, Any]] = params.items()
    elif hasattr(params, "multi_items"):
        items = params.multi_items()
    else:
        items = params
    pairs = []
    for key, value in items:
        values = value if isinstance(value, list | tuple) else [value]
        pairs += [(str(key), str(v).lower() if isinstance(v, bool) else str(v)) for v in values]
    return pairs


def _body_schema(operation: dict[str, Any]) -> dict[str, Any] | None:
    content = (operation.get("requestBody") or {}).get("content", {})
    media = content.get("application/json")
    return media.get("schema") if media else None


def _json_problems(schema: dict[str, Any], value: Any, where: str) -> list[str]:
    """Differences between a JSON value and a schema, leniently typed for ids (see module doc)."""
    kind = schema.get("type")
    if kind is None and "properties" in schema:
        kind = "object"
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {value!r}"]
        props = schema.get("properties", {})
        problems = [f"{where}.{k}: required" for k in schema.get("required", []) if k not in value]
        for key, item in value.items():
            if key not in props:
                if props and schema.get("additionalProperties") is not True:
                    problems.append(f"{where}.{key}: not a documented attribute")
                continue
            problems += _json_problems(props[key], item, f"{where}.{key}")
        return problems
    if kind == "array":
        if not isinstance(value, list):
            return [f"{where}: expected an array, got {value!r}"]
        items = schema.get("items", {})
        return [p for i, v in enumerate(value) for p in _json_problems(items, v, f"{where}[{i}]")]
    numeric = isinstance(value, int) and not isinstance(value, bool)
    digits = isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()) is not None
    ok = {
        "string": isinstance(value, str) or numeric,
        "integer": numeric or digits,
        "number": numeric or isinstance(value, float) or digits,
        "boolean": isinstance(value, bool),
    }.get(kind, True)
    return [] if ok else [f"{where}: expected {kind}, got {value!r}"]


def _with_supplement(schema: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    schema = json.loads(json.dumps(schema))
    props = schema.setdefault("properties", {})
    for key, value in extra.items():
        if key.endswith("[]"):
            items = props[key[:-2]]["items"].setdefault("properties", {})
            items.update(value)
        else:
            props[key] = value
    return schema


def assert_request_conforms(
    method: str,
    path: str,
    params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
    json_body: Any = None,
) -> None:
    """Fail unless the request is one the ActiveCampaign v3 API documents (see module doc).

    `path` may be a full URL or `/api/3/...`, with or without a query string (whose parameters
    are checked too); `params` may be a dict (list values repeat a parameter), pairs, or
    httpx.QueryParams.
    """
    method = method.upper()
    template, operation = find_operation(method, path)
    where = f"{method} {template}"
    query = urlsplit(path).query if "?" in path else ""
    pairs = parse_qsl(query, keep_blank_values=True) + _pairs(params)
    declared = _query_params(operation, method, template)
    problems = []
    for name, value in pairs:
        schema = _param_schema(declared, name)
        if schema is None:
            problems.append(f"query parameter {name!r} is not documented for this endpoint")
            continue
        problem = _param_value_problem(schema, value)
        if problem:
            problems.append(f"query parameter {name}={value!r} {problem}")
    body_schema = _body_schema(operation)
    if json_body is not None:
        if body_schema is None:
            problems.append("this endpoint takes no request body")
        else:
            extra = SUPPLEMENT.get((method, template), {}).get("body", {})
            full = _with_supplement(body_schema, extra) if extra else body_schema
            problems += _json_problems(full, json_body, "body")
    elif body_schema is not None and body_schema.get("required"):
        problems.append("this endpoint requires a JSON body")
    if problems:
        raise AssertionError(f"{where}: " + "; ".join(problems))


# ---------------------------------------------------------------------------- responses
def example_responses(
    method: str, template: str, status: int, name: str | None = None
) -> list[Any]:
    """The parsed example bodies the spec gives for one response (only `name`, if given)."""
    operation = spec()["paths"][template][method.lower()]
    content = operation["responses"][str(status)].get("content", {})
    parsed = []
    for media in content.values():  # some JSON examples are filed under text/plain
        for key, example in media.get("examples", {}).items():
            if name is not None and key != name:
                continue
            value = example.get("value")
            parsed.append(json.loads(value) if isinstance(value, str) else value)
    return parsed


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _walk_record(profile: dict[str, dict[str, set[str]]], kind: str, record: dict) -> None:
    keys = profile.setdefault(kind, {})
    for key, value in record.items():
        keys.setdefault(key, set()).add(json_type(value))
        if isinstance(value, dict):
            _walk_record(profile, f"{kind}.{key}", value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    _walk_record(profile, f"{kind}.{key}", item)


def _top_kind(key: str) -> str:
    return RECORD_TYPES.get(key, key)


@lru_cache(maxsize=1)
def record_profile() -> dict[str, dict[str, set[str]]]:
    """Every key and JSON type the spec's 2xx examples show, per record type: what is documented."""
    profile: dict[str, dict[str, set[str]]] = {}
    for operations in spec()["paths"].values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if not str(status).startswith("2"):
                    continue
                for media in response.get("content", {}).values():
                    for example in media.get("examples", {}).values():
                        try:
                            body = json.loads(example["value"])
                        except (KeyError, TypeError, json.JSONDecodeError):
                            continue
                        if isinstance(body, dict):
                            _walk_record(profile, "<top>", body)
                            for key, value in body.items():
                                items = value if isinstance(value, list) else [value]
                                for item in items:
                                    if isinstance(item, dict):
                                        _walk_record(profile, _top_kind(key), item)
    for kind, fields in LIVE_RECORD_FIELDS.items():
        for name, types in fields.items():
            profile.setdefault(kind, {}).setdefault(name, set()).update(types)
    return profile


def _compare(mine: Any, examples: list[Any], kind: str, where: str, problems: list[str]) -> None:
    """`mine` against the example values at the same place (several when from a list)."""
    dicts = [e for e in examples if isinstance(e, dict)]
    if isinstance(mine, dict) and dicts:
        documented = record_profile().get(kind, {})
        always = set.intersection(*(set(d) for d in dicts))
        seen = set().union(*(set(d) for d in dicts))
        for key in sorted(always - set(mine)):
            problems.append(f"{where}: key {key!r} missing")
        for key, value in mine.items():
            if key not in seen and key not in documented:
                problems.append(f"{where}: key {key!r} is not one ActiveCampaign returns")
                continue
            allowed = {json_type(d[key]) for d in dicts if key in d} | documented.get(key, set())
            if allowed - {"null"} and json_type(value) not in allowed:
                problems.append(
                    f"{where}.{key}: {json_type(value)} where ActiveCampaign returns "
                    f"{' or '.join(sorted(allowed))}"
                )
            nested = [d[key] for d in dicts if key in d]
            if isinstance(value, dict):
                _compare(value, nested, f"{kind}.{key}", f"{where}.{key}", problems)
            elif isinstance(value, list):
                items = [i for n in nested if isinstance(n, list) for i in n]
                for i, item in enumerate(value):
                    _compare(item, items, f"{kind}.{key}", f"{where}.{key}[{i}]", problems)


def assert_response_conforms(
    method: str,
    template: str,
    status: int,
    body: Any,
    *,
    extra_top_level: Iterable[str] = (),
    aliases: Mapping[str, str] | None = None,
    example: str | None = None,
) -> None:
    """Same top-level keys as the spec's example, and recursively the same keys and JSON types
    for the records; extra record keys only where another example of the spec shows them.

    extra_top_level: top-level keys the request asked for (e.g. `include=`); aliases: example key
    -> key the live API uses (the bulk-import example spells `success` as `Success`);
    example: the name of the one example to compare with, when a status has several.
    """
    examples = example_responses(method, template, status, example)
    assert examples, f"the spec has no example for {method} {template} {status}"
    failures = []
    for candidate in examples:
        problems = _top_level_problems(body, candidate, set(extra_top_level), aliases or {})
        if not problems:
            return  # conforming to one of the examples is enough
        failures.append("; ".join(dict.fromkeys(problems)))
    raise AssertionError(f"{method} {template} {status}: " + " | ".join(failures))


def _top_level_problems(
    body: Any, example: Any, extra: set[str], aliases: Mapping[str, str]
) -> list[str]:
    if not isinstance(body, dict) or not isinstance(example, dict):
        same = json_type(body) == json_type(example)
        return [] if same else [f"body is {json_type(body)}, example is {json_type(example)}"]
    example = {aliases.get(k, k): v for k, v in example.items()}
    problems = []
    expected = set(example) | extra
    if set(body) != expected:
        problems.append(
            f"top-level keys {sorted(body)} differ from the example's {sorted(expected)}"
        )
    for key, value in body.items():
        if key not in example:
            continue
        if json_type(value) != json_type(example[key]) and example[key] is not None:
            problems.append(f"{key}: {json_type(value)}, example {json_type(example[key])}")
        nested = example[key] if isinstance(example[key], list) else [example[key]]
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            _compare(item, nested, _top_kind(key), f"{key}[{i}]", problems)
    return problems
