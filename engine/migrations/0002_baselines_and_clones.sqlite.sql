-- Plan series and baselines.
--
-- A clone is a new plan that continues an old one: cloned_from is the old plan's
-- id and series_version counts the plans of one series from 1. cloned_from has no
-- foreign key because an imported plan may name a plan of the store it came from.
-- Plans stored before this migration are the first of their series.

ALTER TABLE plans ADD COLUMN cloned_from INTEGER;
ALTER TABLE plans ADD COLUMN series_version INTEGER NOT NULL DEFAULT 1 CHECK (series_version >= 1);

-- A baseline is a named copy of a plan document as it was at one plan version.
-- Times are ISO 8601 text in UTC with microseconds, like the other tables.
CREATE TABLE baselines (
    plan_id INTEGER NOT NULL REFERENCES plans (id),
    name TEXT NOT NULL CHECK (length(trim(name)) > 0),
    plan_version INTEGER NOT NULL CHECK (plan_version >= 1),
    automatic INTEGER NOT NULL CHECK (automatic IN (0, 1)),
    taken_at TEXT NOT NULL,
    taken_by TEXT NOT NULL,
    document TEXT NOT NULL CHECK (json_valid(document)),
    PRIMARY KEY (plan_id, name)
);

-- Baselines are kept like events: no UPDATE, no DELETE.
CREATE TRIGGER baselines_no_update BEFORE UPDATE ON baselines
BEGIN
    SELECT RAISE(ABORT, 'svcplan keeps every baseline: UPDATE on baselines is not allowed');
END;

CREATE TRIGGER baselines_no_delete BEFORE DELETE ON baselines
BEGIN
    SELECT RAISE(ABORT, 'svcplan keeps every baseline: DELETE on baselines is not allowed');
END;
