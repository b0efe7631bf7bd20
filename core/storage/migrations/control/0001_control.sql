-- Control database: what is global to the platform (plans, regions, shards, the shard map,
-- customers and their subscriptions, quota overrides, API keys, invoices).
-- Tenant-owned rows carry customer_id and are guarded by row-level security: the app runs as
-- gb_app (no BYPASSRLS) with gb.customer_id set per transaction; platform operations run as
-- gb_platform (BYPASSRLS). Both roles are created once per cluster.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gb_app') THEN
        CREATE ROLE gb_app NOLOGIN NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gb_platform') THEN
        CREATE ROLE gb_platform NOLOGIN BYPASSRLS;
    END IF;
END
$$;

-- The tenant of the current transaction (NULL when unset: policies then match no row).
CREATE OR REPLACE FUNCTION gb_current_customer() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('gb.customer_id', true), '')::uuid $$;

CREATE TABLE regions (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9-]{2,32}$'),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Subscription tiers: a monthly price, unit prices for metered usage, default quotas, features.
CREATE TABLE plans (
    id                   text PRIMARY KEY CHECK (id ~ '^[a-z0-9-]{2,32}$'),
    name                 text NOT NULL,
    monthly_price_cents  bigint NOT NULL DEFAULT 0 CHECK (monthly_price_cents >= 0),
    currency             text NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    unit_prices          jsonb NOT NULL DEFAULT '{}',   -- usage kind -> price per unit, in millicents
    quotas               jsonb NOT NULL DEFAULT '{}',   -- quota name -> default limit
    features             jsonb NOT NULL DEFAULT '{}',   -- feature -> default on/off
    created_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE shards (
    id            integer PRIMARY KEY CHECK (id >= 0),
    name          text NOT NULL UNIQUE,
    dsn           text NOT NULL,
    replica_dsns  text[] NOT NULL DEFAULT '{}',
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'draining', 'retired')),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE customers (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name           text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255),
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'closed')),
    plan_id        text NOT NULL REFERENCES plans (id),
    region_id      text NOT NULL REFERENCES regions (id),
    max_instances  integer CHECK (max_instances >= 0),   -- NULL: the plan's quota
    metadata       jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Which shard holds a customer's rows. state 'moving' while `gb tenant move` copies them,
-- 'frozen' during the short write freeze before the switch; version bumps on every switch.
CREATE TABLE shard_map (
    customer_id  uuid PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    shard_id     integer NOT NULL REFERENCES shards (id),
    state        text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'moving', 'frozen')),
    version      integer NOT NULL DEFAULT 1,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shard_map_shard ON shard_map (shard_id);

-- The original's GBOnlineSubscription: a paid sign-up of a customer (optionally for one bot).
CREATE TABLE subscriptions (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id               uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    instance_id               uuid,
    plan_id                   text NOT NULL REFERENCES plans (id),
    status                    text NOT NULL DEFAULT 'pending_payment'
                              CHECK (status IN ('pending_payment', 'active', 'cancelled')),
    customer_name             text,
    customer_email            text,
    customer_mobile           text,
    bot_name                  text,
    payment_amount_cents      bigint,
    payment_url               text,
    payment_token             text,
    stripe_session_id         text,
    stripe_payment_intent_id  text,
    last_cc_four_digits       text CHECK (last_cc_four_digits ~ '^[0-9]{4}$'),
    created_at                timestamptz NOT NULL DEFAULT now(),
    activated_at              timestamptz,
    cancelled_at              timestamptz
);
CREATE INDEX subscriptions_customer ON subscriptions (customer_id, created_at);

-- Per-customer overrides of the plan's default quotas.
CREATE TABLE quota_overrides (
    customer_id  uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (name IN ('instances', 'connections_per_instance',
                     'messages_per_day', 'storage_bytes', 'concurrent_rooms',
                     'participants_per_room')),
    value        bigint NOT NULL CHECK (value >= 0),
    PRIMARY KEY (customer_id, name)
);

-- API keys: only a hash is stored; the key itself is shown once at creation.
CREATE TABLE api_keys (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id   uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    instance_id   uuid,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    prefix        text NOT NULL,               -- first characters, to recognise a key
    key_hash      bytea NOT NULL UNIQUE,       -- SHA-256 of the key
    roles         text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    UNIQUE (customer_id, name)
);

-- Billing periods priced from the shards' usage roll-ups.
CREATE TABLE invoices (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id   uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    period_start  date NOT NULL,
    period_end    date NOT NULL CHECK (period_end > period_start),
    plan_id       text NOT NULL REFERENCES plans (id),
    currency      text NOT NULL,
    total_cents   bigint NOT NULL DEFAULT 0,
    status        text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'issued', 'paid', 'void')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (customer_id, period_start)
);

CREATE TABLE invoice_lines (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    invoice_id         uuid NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    customer_id        uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    instance_id        uuid,
    kind               text NOT NULL,           -- 'subscription' or a usage kind
    quantity           numeric NOT NULL,
    unit_price_mcents  bigint NOT NULL,         -- millicents per unit
    amount_cents       bigint NOT NULL
);
CREATE INDEX invoice_lines_invoice ON invoice_lines (invoice_id);

-- Row-level security on every tenant-owned control table.
DO $$
DECLARE
    t text;
    col text;
BEGIN
    FOREACH t IN ARRAY ARRAY['customers', 'shard_map', 'subscriptions', 'quota_overrides',
                             'api_keys', 'invoices', 'invoice_lines']
    LOOP
        col := CASE WHEN t = 'customers' THEN 'id' ELSE 'customer_id' END;
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (%I = gb_current_customer())
                        WITH CHECK (%I = gb_current_customer())', t, col, col);
    END LOOP;
END
$$;

GRANT SELECT ON regions, plans, shards TO gb_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON customers, shard_map, subscriptions, quota_overrides,
    api_keys, invoices, invoice_lines TO gb_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO gb_platform;
GRANT EXECUTE ON FUNCTION gb_current_customer() TO gb_app, gb_platform;

INSERT INTO regions (id, name) VALUES ('local', 'Local');
INSERT INTO plans (id, name, monthly_price_cents, unit_prices, quotas, features) VALUES
    ('free', 'Free', 0,
     '{"message": 0, "connection_minute": 0, "media_minute": 0, "bot_run": 0, "storage_byte_day": 0}',
     '{"instances": 1, "connections_per_instance": 100, "messages_per_day": 10000,
       "storage_bytes": 104857600, "concurrent_rooms": 2, "participants_per_room": 10}',
     '{"rooms": false, "bots": true}'),
    ('pro', 'Pro', 4900,
     '{"message": 10, "connection_minute": 1, "media_minute": 200, "bot_run": 50, "storage_byte_day": 0}',
     '{"instances": 20, "connections_per_instance": 10000, "messages_per_day": 5000000,
       "storage_bytes": 107374182400, "concurrent_rooms": 100, "participants_per_room": 100}',
     '{"rooms": true, "bots": true}'),
    ('enterprise', 'Enterprise', 99900,
     '{"message": 5, "connection_minute": 1, "media_minute": 100, "bot_run": 20, "storage_byte_day": 0}',
     '{"instances": 1000, "connections_per_instance": 1000000, "messages_per_day": 1000000000,
       "storage_bytes": 10995116277760, "concurrent_rooms": 100000, "participants_per_room": 1000}',
     '{"rooms": true, "bots": true}');
