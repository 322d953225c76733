-- Plan series and baselines.
--
-- A clone is a new plan that continues an old one: cloned_from is the old plan's
-- id and series_version counts the plans of one series from 1. cloned_from has no
-- foreign key because an imported plan may name a plan of the store it came from.
-- Plans stored before this migration are the first of their series.

ALTER TABLE plans ADD COLUMN cloned_from bigint;
ALTER TABLE plans ADD COLUMN series_version integer NOT NULL DEFAULT 1 CHECK (series_version >= 1);

-- A baseline is a named copy of a plan document as it was at one plan version.
CREATE TABLE baselines (
    plan_id bigint NOT NULL REFERENCES plans (id),
    name text NOT NULL CHECK (length(trim(name)) > 0),
    plan_version integer NOT NULL CHECK (plan_version >= 1),
    automatic boolean NOT NULL,
    taken_at timestamptz NOT NULL,
    taken_by text NOT NULL,
    document jsonb NOT NULL,
    PRIMARY KEY (plan_id, name)
);

-- Baselines are kept like events: no UPDATE, no DELETE (svcplan_keep_rows comes from migration 1).
CREATE TRIGGER baselines_append_only BEFORE UPDATE OR DELETE ON baselines
    FOR EACH ROW EXECUTE FUNCTION svcplan_keep_rows();
