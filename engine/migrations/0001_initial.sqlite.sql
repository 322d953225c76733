-- Plans, one row each with the plan as a JSON document, and their events.
-- Times are ISO 8601 text in UTC with microseconds, so text order is time order.

CREATE TABLE plans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    template_id TEXT NOT NULL,
    template_version INTEGER NOT NULL,
    template_hash TEXT NOT NULL,
    case_reference TEXT,
    status TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    document TEXT NOT NULL CHECK (json_valid(document)),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);

CREATE INDEX plans_case_reference ON plans (case_reference);

CREATE TABLE events (
    plan_id INTEGER NOT NULL REFERENCES plans (id),
    seq INTEGER NOT NULL CHECK (seq >= 1),
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    "before" TEXT NOT NULL CHECK (json_valid("before")),
    "after" TEXT NOT NULL CHECK (json_valid("after")),
    PRIMARY KEY (plan_id, seq)
);

-- The audit trail is append-only: these triggers reject UPDATE and DELETE of
-- events and DELETE of plans. DROP TABLE bypasses them.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'svcplan keeps every event: UPDATE on events is not allowed');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'svcplan keeps every event: DELETE on events is not allowed');
END;

CREATE TRIGGER plans_no_delete BEFORE DELETE ON plans
BEGIN
    SELECT RAISE(ABORT, 'svcplan keeps every plan: DELETE on plans is not allowed');
END;
