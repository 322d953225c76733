-- Plans, one row each with the plan as a JSON document, and their events.

CREATE TABLE plans (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    template_id text NOT NULL,
    template_version integer NOT NULL,
    template_hash text NOT NULL,
    case_reference text,
    status text NOT NULL,
    version integer NOT NULL CHECK (version >= 1),
    document jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    updated_by text NOT NULL
);

CREATE INDEX plans_case_reference ON plans (case_reference);

CREATE TABLE events (
    plan_id bigint NOT NULL REFERENCES plans (id),
    seq integer NOT NULL CHECK (seq >= 1),
    at timestamptz NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    "before" jsonb NOT NULL,
    "after" jsonb NOT NULL,
    PRIMARY KEY (plan_id, seq)
);

-- The audit trail is append-only: these triggers reject UPDATE and DELETE of
-- events and DELETE of plans. TRUNCATE and DROP TABLE bypass them.
CREATE FUNCTION svcplan_keep_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'svcplan keeps every row of %: % is not allowed', TG_TABLE_NAME, TG_OP;
END
$$;

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION svcplan_keep_rows();

CREATE TRIGGER plans_no_delete BEFORE DELETE ON plans
    FOR EACH ROW EXECUTE FUNCTION svcplan_keep_rows();
