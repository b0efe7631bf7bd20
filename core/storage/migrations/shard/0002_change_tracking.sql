-- Change tracking for online tenant moves (gb.core.storage.move, `gb tenant move`).
--
-- Every tenant table gets a row_version stamped from one sequence by a trigger on INSERT and
-- UPDATE, and an index (customer_id, row_version), so a move can copy a customer's rows and then
-- catch up with what changed since. While a move tracks a customer (tenant_fences.state =
-- 'tracking') deletes leave a tombstone in deleted_rows. The same trigger is the write fence:
-- it takes the customer's shared advisory lock (gb_fence_key, the key Database.tenant takes), so
-- a move holding that lock exclusively drains and freezes every writer of the customer on this
-- shard, platform writers included; and it refuses writes of a customer that has moved away
-- (state 'moved') with SQLSTATE GBM01. The move's own sessions identify themselves with the
-- setting gb.move_customer and pass.
-- Tables added later join with SELECT gb_track_changes('new_table') in their migration.

CREATE SEQUENCE gb_row_version_seq;  -- no CACHE: versions must follow assignment order per shard
GRANT USAGE ON SEQUENCE gb_row_version_seq TO gb_app, gb_platform;
GRANT SELECT ON SEQUENCE gb_row_version_seq TO gb_platform;  -- the move reads its value

-- The advisory-lock key of a customer: the first 8 bytes of the uuid as a signed bigint
-- (gb.core.storage.shardmap.fence_key).
CREATE FUNCTION gb_fence_key(customer uuid) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT ('x' || left(replace(customer::text, '-', ''), 16))::bit(64)::bigint $$;
GRANT EXECUTE ON FUNCTION gb_fence_key(uuid) TO gb_app, gb_platform;

-- A customer being moved off this shard ('tracking') or moved away from it ('moved').
CREATE TABLE tenant_fences (
    customer_id  uuid PRIMARY KEY,
    state        text NOT NULL CHECK (state IN ('tracking', 'moved')),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Tombstones of rows deleted while their customer was tracked (pk: the primary key as JSON).
CREATE TABLE deleted_rows (
    customer_id  uuid NOT NULL,
    table_name   text NOT NULL,
    pk           jsonb NOT NULL,
    row_version  bigint NOT NULL,
    deleted_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deleted_rows_customer ON deleted_rows (customer_id, row_version);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenant_fences', 'deleted_rows']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (customer_id = gb_current_customer())
                        WITH CHECK (customer_id = gb_current_customer())', t);
    END LOOP;
END
$$;
GRANT SELECT ON tenant_fences TO gb_app;
GRANT SELECT, INSERT ON deleted_rows TO gb_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_fences, deleted_rows TO gb_platform;

-- The row trigger. Arguments: the table's name (partitions report their own in TG_TABLE_NAME),
-- then its primary-key columns.
CREATE FUNCTION gb_track_row() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    customer uuid;
    fence text;
    old_pk jsonb;
BEGIN
    IF TG_OP = 'DELETE' THEN
        customer := OLD.customer_id;
    ELSE
        customer := NEW.customer_id;
    END IF;
    IF current_setting('gb.move_customer', true) IS DISTINCT FROM customer::text THEN
        IF NOT pg_try_advisory_xact_lock_shared(gb_fence_key(customer)) THEN
            RAISE EXCEPTION 'customer % is frozen by a tenant move; retry', customer
                USING ERRCODE = 'GBM01';
        END IF;
        SELECT f.state INTO fence FROM tenant_fences f WHERE f.customer_id = customer;
        IF fence = 'moved' THEN
            RAISE EXCEPTION 'customer % has moved to another shard; retry', customer
                USING ERRCODE = 'GBM01';
        END IF;
    END IF;
    IF fence = 'tracking' AND TG_OP <> 'INSERT' THEN
        -- A delete, or an update that changes the key (a row moving between partitions).
        SELECT jsonb_object_agg(k, to_jsonb(OLD) -> k) INTO old_pk
            FROM unnest(TG_ARGV[1:TG_NARGS - 1]) AS k;
        IF TG_OP = 'DELETE' OR old_pk IS DISTINCT FROM
                (SELECT jsonb_object_agg(k, to_jsonb(NEW) -> k)
                 FROM unnest(TG_ARGV[1:TG_NARGS - 1]) AS k) THEN
            INSERT INTO deleted_rows (customer_id, table_name, pk, row_version)
                VALUES (customer, TG_ARGV[0], old_pk, nextval('gb_row_version_seq'));
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    NEW.row_version := nextval('gb_row_version_seq');
    RETURN NEW;
END
$$;

-- Give a tenant table its row_version (existing rows numbered), index, trigger, and make its
-- foreign keys deferrable (still checked per statement unless a transaction defers them: a move
-- applies a batch of changes in one transaction and checks them at commit).
CREATE FUNCTION gb_track_changes(t regclass) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    pk text[];
    name text := (SELECT relname FROM pg_class WHERE oid = t);
    fk text;
BEGIN
    SELECT array_agg(a.attname::text ORDER BY k.ord) INTO pk
        FROM pg_index i
        CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k (attnum, ord)
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = t AND i.indisprimary;
    IF pk IS NULL THEN
        RAISE EXCEPTION 'table % has no primary key; change tracking needs one', t;
    END IF;
    EXECUTE format('ALTER TABLE %s ADD COLUMN IF NOT EXISTS row_version bigint NOT NULL '
                   'DEFAULT nextval(''gb_row_version_seq'')', t);
    EXECUTE format('ALTER TABLE %s ALTER COLUMN row_version SET DEFAULT 0', t);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s (customer_id, row_version)',
                   name || '_row_version', t);
    EXECUTE format('DROP TRIGGER IF EXISTS gb_track ON %s', t);
    EXECUTE format('CREATE TRIGGER gb_track BEFORE INSERT OR UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION gb_track_row(%s)', t,
                   (SELECT string_agg(quote_literal(x), ', ') FROM unnest(name || pk) AS x));
    FOR fk IN SELECT conname FROM pg_constraint
              WHERE conrelid = t AND contype = 'f' AND NOT condeferrable
    LOOP
        EXECUTE format('ALTER TABLE %s ALTER CONSTRAINT %I DEFERRABLE INITIALLY IMMEDIATE', t, fk);
    END LOOP;
END
$$;

-- usage_events had no primary key: give its rows an identity so a move can upsert them.
ALTER TABLE usage_events ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE usage_events ADD PRIMARY KEY (id, created_at);

SELECT gb_track_changes(t)
FROM unnest(ARRAY['instances', 'instance_features', 'admin_settings', 'applications', 'channels',
                  'packages', 'schedules', 'users', 'groups', 'user_groups', 'subjects',
                  'answers', 'questions', 'question_alternates', 'conversations',
                  'conversation_messages', 'logs', 'rooms', 'messages', 'usage_events',
                  'usage_rollups', 'audit_log']::regclass[]) AS t;
