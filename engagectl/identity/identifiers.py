"""Which identifiers an event carries, found in SQL: one row per (event, identifier).

Identifiers follow Segment's defaults (segment-engage-spec.md §6.1): `user_id`, `email` (from
traits, context.traits or properties), `anonymous_id` (an alias call's `previousId` counts as
one too), `group_id`, the device ids of `context.device`, and custom ids from
`context.externalIds` (users collection). Values are trimmed and lower-cased, as Segment treats
external ids; blocked values (exact or regex, global or per type) are never identifiers.
"""

from __future__ import annotations

from sqlglot import exp

from engagectl.config.models import BlockedRegex, IdentitySettings
from engagectl.warehouse import Warehouse, quoted_column
from engagectl.warehouse.json_paths import json_text


def _lit(value: str) -> exp.Literal:
    return exp.Literal.string(value)


# The fields of `context` identifiers come from. They are read in one pass that parses each
# event's context once (`Warehouse.json_fields`): a path read with ->> parses the whole document
# again, and real contexts (library, page, userAgent, …) are most of a message.
CONTEXT = "engage_context_fields"
_CONTEXT_FIELDS: dict[str, tuple[tuple[str, ...], bool]] = {
    "traits_email": (("traits", "email"), False),
    "device_type": (("device", "type"), False),
    "device_id": (("device", "id"), False),
    "device_advertising_id": (("device", "advertisingId"), False),
    "device_token": (("device", "token"), False),
    "device_ad_tracking": (("device", "adTrackingEnabled"), False),
    "external_ids": (("externalIds",), True),
}


def _device_identifiers() -> list[tuple[str, exp.Expression]]:
    """android.* / ios.* ids from context.device, by the device type."""
    column = quoted_column
    device_type = exp.func("LOWER", column("device_type"))
    tracking = exp.func("LOWER", column("device_ad_tracking")).eq(_lit("true"))
    found = []
    for platform in ("android", "ios"):
        on_platform = device_type.eq(_lit(platform))
        found.append((f"{platform}.id", exp.If(this=on_platform, true=column("device_id"))))
        found.append((f"{platform}.idfa", exp.If(this=exp.and_(on_platform, tracking),
                                                  true=column("device_advertising_id"))))
        found.append((f"{platform}.push_token", exp.If(this=on_platform, true=column("device_token"))))
    # exp.If renders as CASE WHEN … THEN … END on both engines.
    return [(id_type, exp.Case(ifs=[value])) for id_type, value in found]


def _column_candidates() -> list[tuple[str, exp.Expression]]:
    """Identifiers read from an event's own columns."""
    column = quoted_column
    return [
        ("user_id", column("user_id")),
        ("anonymous_id", column("anonymous_id")),
        ("anonymous_id", column("previous_id")),
        ("group_id", column("group_id")),
    ]


def _named_key(document: exp.Expression, key: str) -> exp.Expression:
    """The text of `document`'s top-level `key`, parsed only out of documents whose text could
    hold it: the key written out, or any \\u escape (which could spell it). Searching text costs
    a fraction of a parse, and most events' properties name no email: on 10M events, reading
    their properties' emails went 0.52 -> 0.36 s, of which 0.17 s is reading the text at all."""
    text = exp.cast(document.copy(), "TEXT")
    could_hold = exp.or_(*[exp.StrPosition(this=text.copy(), substr=_lit(part)) > exp.Literal.number(0)
                           for part in (key, "\\u")])
    return exp.Case(ifs=[exp.If(this=could_hold, true=json_text(document, key))])


def _document_candidates() -> list[tuple[str, exp.Expression]]:
    """Identifiers read from an event's traits and properties."""
    column = quoted_column
    return [
        ("email", _named_key(column("traits"), "email")),
        ("email", _named_key(column("properties"), "email")),
    ]


def _context_candidates() -> list[tuple[str, exp.Expression]]:
    """Identifiers read from the fields of `context` (`CONTEXT`), but for externalIds."""
    return [("email", quoted_column("traits_email")), *_device_identifiers()]


def blocked(settings: IdentitySettings, id_type: exp.Expression, value: exp.Expression) -> exp.Expression | None:
    """A condition true when the value is blocked, globally or for its type."""
    conditions: list[exp.Expression] = []

    def add(blocked: list, for_type: str | None) -> None:
        exact = [b.strip().lower() for b in blocked if isinstance(b, str)]
        regexes = [b.regex for b in blocked if isinstance(b, BlockedRegex)]
        parts: list[exp.Expression] = []
        if exact:
            parts.append(value.isin(*[_lit(v) for v in exact]))
        parts.extend(exp.RegexpLike(this=value, expression=_lit(r)) for r in regexes)
        if not parts:
            return
        condition = exp.or_(*parts) if len(parts) > 1 else parts[0]
        if for_type is not None:
            condition = exp.and_(id_type.eq(_lit(for_type)), exp.paren(condition))
        conditions.append(exp.paren(condition))

    add(settings.blocked_values, None)
    for id_type_name, rule in settings.identifiers.items():
        add(rule.blocked_values, id_type_name)
    if not conditions:
        return None
    return exp.or_(*conditions) if len(conditions) > 1 else conditions[0]


# The identifier types found in fixed places (`_column_candidates`, `_document_candidates`,
# `_context_candidates`), by code. An observation carries its type as this small number, not as
# text: tens of millions of them are grouped and joined on it. A custom type
# (context.externalIds) has code -1 and its name beside it.
BUILT_IN_TYPES = ("user_id", "anonymous_id", "group_id", "email",
                  "android.id", "android.idfa", "android.push_token", "ios.id", "ios.idfa", "ios.push_token")
CUSTOM = -1


def normalised_value(raw: exp.Expression) -> exp.Expression:
    """An identifier's value as observations carry it: trimmed and lower-cased."""
    return exp.func("LOWER", exp.func("TRIM", raw))


def user_id_value(events: str) -> exp.Expression:
    """The identifier value of the user_id column of the events aliased `events`."""
    return normalised_value(exp.cast(quoted_column("user_id", events), "TEXT"))


def _code(id_type: str) -> exp.Expression:
    return exp.cast(exp.Literal.number(BUILT_IN_TYPES.index(id_type)), "SMALLINT")


def type_name(code: exp.Expression, custom: exp.Expression) -> exp.Expression:
    """An identifier type's name from its (code, custom name) pair."""
    return exp.Case(this=code, ifs=[exp.If(this=exp.Literal.number(i), true=_lit(t))
                                    for i, t in enumerate(BUILT_IN_TYPES)], default=custom)


# What tells one identifier from another in an observation: its type (a code, and the name of a
# custom type) and its value.
IDENTIFIER_COLUMNS = ("type_code", "custom_type", "id_value")
_COLUMNS = ("seq", *IDENTIFIER_COLUMNS)


def _candidates(sources: exp.Expression, candidates: list[tuple[str, exp.Expression]],
                condition: exp.Expression | None) -> list[exp.Select]:
    # A missing value is left out by `_normalised`'s test alone: a test here as well would be
    # pushed down beside it, and DuckDB would read a JSON path three times per row.
    selects = []
    for id_type, value in candidates:
        select = exp.select(quoted_column("seq"), _code(id_type).as_("type_code"), _lit("").as_("custom_type"),
                            exp.cast(value, "TEXT").as_("raw_value")).from_(sources.copy())
        selects.append(select.where(condition.copy()) if condition is not None else select)
    return selects


def _normalised(selects: list[exp.Select]) -> exp.Select:
    """The union of `selects` (seq, type_code, custom_type, raw_value), values trimmed and
    lower-cased, blank ones left out: rows of `_COLUMNS`."""
    # One call, no copies: unioning one select at a time copies the growing tree each time.
    union = exp.union(*selects, distinct=False, copy=False)
    trimmed = exp.func("TRIM", quoted_column("raw_value"))
    columns = [quoted_column(c) for c in _COLUMNS[:3]]
    # Blank is tested on the trimmed value: lower-casing changes no value's emptiness, and the
    # test is pushed down to every scan apart from the projection (a third of its time).
    # NULL is left out too: NULL <> '' is not true.
    candidates = exp.select(*columns, normalised_value(quoted_column("raw_value")).as_("id_value")).from_(
        union.subquery("candidates", copy=False)).where(trimmed.copy().neq(_lit("")))
    return exp.select(*[quoted_column(c) for c in _COLUMNS]).from_(candidates.subquery("normalised", copy=False))


def _new_events(after_seq: int) -> exp.Expression:
    return exp.GT(this=quoted_column("seq"), expression=exp.Literal.number(after_seq))


def document_observations(warehouse: Warehouse, after_seq: int) -> exp.Select:
    """The observations (`_COLUMNS`) of every event past `after_seq` that come from its JSON
    documents: traits, properties and context (externalIds among them). Reading those costs a
    parse: they are extracted once, into `event_identifiers` (`extract_document_identifiers`)."""
    events = exp.alias_(warehouse.table("events"), "e", table=True)
    new = _new_events(after_seq)
    context = quoted_column("context")
    contexts = warehouse.json_fields(
        exp.select(quoted_column("seq"), context).from_(events.copy()).where(
            exp.and_(new.copy(), context.is_(exp.null()).not_())),
        "context", _CONTEXT_FIELDS)
    selects = [*_candidates(events, _document_candidates(), new),
               *_candidates(exp.table_(CONTEXT, quoted=True), _context_candidates(), None)]
    # context.externalIds: [{id, type, collection, encoding}], users collection only.
    external_ids = quoted_column("external_ids")
    items = exp.select(quoted_column("seq"), warehouse.json_array_items(external_ids).as_("item")).from_(
        exp.table_(CONTEXT, quoted=True)).where(external_ids.is_(exp.null()).not_())
    item = quoted_column("item")
    collection = exp.func("COALESCE", exp.func("LOWER", json_text(item, "collection")), _lit("users"))
    external_type = quoted_column("external_type")
    # An external id of a built-in type ({"type": "email", …}) is that identifier.
    built_in = external_type.isin(*[_lit(t) for t in BUILT_IN_TYPES])
    selects.append(
        exp.select(quoted_column("seq"),
                   exp.Case(this=external_type, ifs=[exp.If(this=_lit(t), true=_code(t)) for t in BUILT_IN_TYPES],
                            default=exp.cast(exp.Literal.number(CUSTOM), "SMALLINT")).as_("type_code"),
                   exp.If(this=built_in, true=_lit(""), false=external_type).as_("custom_type"),
                   quoted_column("raw_value"))
        .from_(exp.select(quoted_column("seq"),
                          exp.func("LOWER", exp.func("TRIM", json_text(item, "type"))).as_("external_type"),
                          json_text(item, "id").as_("raw_value"))
               .from_(items.subquery("external_ids", copy=False))
               .where(collection.eq(_lit("users")))
               .subquery("typed", copy=False))
        .where(exp.and_(external_type.is_(exp.null()).not_(), external_type.neq(_lit(""))))
    )
    # The context fields are read once and materialised: every context branch reads them.
    return _normalised(selects).with_(exp.to_identifier(CONTEXT, quoted=True), as_=contexts, materialized=True,
                                      copy=False)


EXTRACTED = "event_identifiers"
_EXTRACTED_THROUGH = "event_identifiers_watermark"


def extract_document_identifiers(warehouse: Warehouse) -> None:
    """Extract the identifiers of the events' documents into `event_identifiers`, for every event
    past both what is extracted and what is resolved (resolved events are never read again).

    Ingest calls this as it stores each file, so an identity run finds the work done: parsing 10M
    events' documents took 0.55 s of a 9 s run. The run calls it too, for events written to the
    table by other means. The documents' identifiers depend on no setting (blocked values are
    filtered later, on the distinct identifiers).
    """
    extracted, resolved, last = warehouse.fetchall(warehouse.parse("""
        SELECT (SELECT MAX(last_seq) FROM event_identifiers_watermark), (SELECT MAX(last_seq) FROM identity_watermark),
               (SELECT MAX(seq) FROM events)"""))[0]
    start = max(extracted or 0, resolved or 0)
    if last is None or last <= start:
        return
    found = document_observations(warehouse, start).where(quoted_column("seq") <= exp.Literal.number(last), copy=False)
    warehouse.execute(exp.insert(found, warehouse.table(EXTRACTED), columns=list(_COLUMNS)))
    warehouse.execute(exp.delete(warehouse.table(_EXTRACTED_THROUGH)))
    warehouse.execute(exp.insert(exp.select(exp.Literal.number(last), exp.cast(exp.CurrentTimestamp(), "TIMESTAMP")),
                                 warehouse.table(_EXTRACTED_THROUGH), columns=["last_seq", "updated_at"]))


def observations(warehouse: Warehouse, after_seq: int) -> exp.Select:
    """One row (seq, type_code, custom_type, id_value) per identifier of every event past
    `after_seq`; `custom_type` is the type's name when `type_code` is `CUSTOM`, else ''.
    Those of the documents are read from `event_identifiers` (`extract_document_identifiers`
    first); the rest from the events' columns, which costs little enough to read again rather
    than store (tens of millions of rows).

    Values are normalised; blocked values are not filtered here but on the distinct identifiers
    (`blocked`), and an event may list the same identifier twice (email in traits and context):
    both are cheaper once per identifier than once per observation.
    """
    events = exp.alias_(warehouse.table("events"), "e", table=True)
    documents = exp.select(*[quoted_column(c) for c in _COLUMNS]).from_(warehouse.table(EXTRACTED)).where(
        _new_events(after_seq))
    return exp.union(_normalised(_candidates(events, _column_candidates(), _new_events(after_seq))), documents,
                     distinct=False, copy=False)


def priority_rank(settings: IdentitySettings) -> exp.Expression:
    """An identifier type's rank: explicit priorities first, then user_id, email, then the rest.

    Types without a configured priority share the last rank; ordering by (rank, id_type) then
    puts them alphabetically, as `IdentitySettings.priority_order` does.
    """
    explicit = [t for t in settings.priority_order(list(settings.identifiers))
                if settings.identifiers[t].priority is not None]
    order = explicit + [t for t in ("user_id", "email") if t not in explicit]
    return exp.Case(
        this=quoted_column("id_type"),
        ifs=[exp.If(this=_lit(t), true=exp.Literal.number(i)) for i, t in enumerate(order)],
        default=exp.Literal.number(len(order)),
    )
