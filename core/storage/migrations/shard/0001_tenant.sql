-- Shard database: the rows of the customers mapped to this shard. Every table carries
-- customer_id and is guarded by row-level security (policy tenant_isolation), so a query
-- without a tenant filter still sees only the current transaction's customer.
-- Large append-mostly tables are range-partitioned by month on created_at; partitions are
-- created ahead by the partition manager (gb.core.storage.partitions) and old ones detached.
-- Names of the original (Guaribas*) are mapped in docs/data-model.md.

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

CREATE OR REPLACE FUNCTION gb_current_customer() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('gb.customer_id', true), '')::uuid $$;

-- GuaribasInstance: one bot / workspace of a customer. The original's many per-channel keys
-- (whatsapp*, sms*, google*, facebook*, nlp*, search*, storage*...) live in config.
CREATE TABLE instances (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id  uuid NOT NULL,
    name         text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),   -- botId
    title        text,
    description  text,
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'deleted')),
    region_id    text NOT NULL DEFAULT 'local',
    shard_id     integer NOT NULL DEFAULT 0,
    config       jsonb NOT NULL DEFAULT '{}',
    params       jsonb NOT NULL DEFAULT '{}',      -- the .gbot config.csv values
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (customer_id, name)
);

-- Feature toggles per instance (defaults come from the plan).
CREATE TABLE instance_features (
    customer_id  uuid NOT NULL,
    instance_id  uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    feature      text NOT NULL CHECK (feature ~ '^[a-z0-9_.-]{1,64}$'),
    enabled      boolean NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance_id, feature)
);

-- GuaribasAdmin: per-instance key/value settings (OAuth tokens and the like).
CREATE TABLE admin_settings (
    customer_id  uuid NOT NULL,
    instance_id  uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    value        text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance_id, key)
);

-- GuaribasApplications
CREATE TABLE applications (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id  uuid NOT NULL,
    instance_id  uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    name         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- GuaribasChannel: the channels an instance is reachable on (web, whatsapp, teams, sms, email).
CREATE TABLE channels (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id  uuid NOT NULL,
    instance_id  uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('web', 'whatsapp', 'teams', 'sms', 'email',
                                               'facebook', 'googlechat')),
    title        text,
    config       jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- GuaribasPackage: a deployed .gbkb / .gbdialog / ... package.
CREATE TABLE packages (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id  uuid NOT NULL,
    instance_id  uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    name         text NOT NULL,
    custom       text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (instance_id, name)
);

-- GuaribasSchedule: SET SCHEDULE jobs.
CREATE TABLE schedules (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id  uuid NOT NULL,
    instance_id  uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    name         text NOT NULL,                 -- <script>;<n>
    schedule     text NOT NULL,                 -- cron text
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (instance_id, name)
);

-- GuaribasUser: an end user of one bot (a person on a channel).
CREATE TABLE users (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id             uuid NOT NULL,
    instance_id             uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    user_system_id          text NOT NULL,      -- channel identity: phone, e-mail, web id
    user_name               text,
    display_name            text,
    email                   text,
    default_channel         text,
    locale                  text CHECK (locale ~ '^[a-z]{2}(-[A-Z]{2})?$'),
    agent_system_id         text,
    agent_contacted         timestamptz,
    agent_mode              text CHECK (agent_mode IN ('self', 'human', 'bot')),
    conversation_reference  jsonb,
    conversation_id         uuid,
    hear_on_dialog          text,
    params                  jsonb NOT NULL DEFAULT '{}',
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (instance_id, user_system_id)
);

-- GuaribasGroup and GuaribasUserGroup.
CREATE TABLE groups (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id   uuid NOT NULL,
    instance_id   uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    display_name  text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 512),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (instance_id, display_name)
);

CREATE TABLE user_groups (
    customer_id  uuid NOT NULL,
    instance_id  uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id     uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, user_id)
);

-- Knowledge base: GuaribasSubject, GuaribasAnswer, GuaribasQuestion, GuaribasQuestionAlternate.
CREATE TABLE subjects (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id          uuid NOT NULL,
    instance_id          uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    package_id           uuid REFERENCES packages (id) ON DELETE CASCADE,
    parent_subject_id    uuid REFERENCES subjects (id) ON DELETE CASCADE,
    responsible_user_id  uuid REFERENCES users (id) ON DELETE SET NULL,
    internal_id          text,
    title                text,
    description          text,
    "from"               text,
    "to"                 text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE answers (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id  uuid NOT NULL,
    instance_id  uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    package_id   uuid REFERENCES packages (id) ON DELETE CASCADE,
    media        text,
    format       text,
    content      text NOT NULL,
    next_id      uuid,                          -- linked-answer navigation (question ids)
    prev_id      uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE questions (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id  uuid NOT NULL,
    instance_id  uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    package_id   uuid REFERENCES packages (id) ON DELETE CASCADE,
    answer_id    uuid REFERENCES answers (id) ON DELETE SET NULL,
    subject1     text,
    subject2     text,
    subject3     text,
    subject4     text,
    keywords     text,
    skip_index   boolean NOT NULL DEFAULT false,
    "from"       text,
    "to"         text,
    content      text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE question_alternates (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id    uuid NOT NULL,
    instance_id    uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    question_typed text NOT NULL,
    question_text  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- GuaribasConversation and GuaribasConversationMessage (partitioned).
CREATE TABLE conversations (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id         uuid NOT NULL,
    instance_id         uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    channel_id          uuid REFERENCES channels (id) ON DELETE SET NULL,
    start_subject_id    uuid REFERENCES subjects (id) ON DELETE SET NULL,
    started_by_user_id  uuid REFERENCES users (id) ON DELETE SET NULL,
    text                text,
    rate                real,
    rate_date           timestamptz,
    feedback            text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE conversation_messages (
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    customer_id      uuid NOT NULL,
    instance_id      uuid NOT NULL,
    conversation_id  uuid NOT NULL,
    user_id          uuid,
    subject_id       uuid,
    content          text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX conversation_messages_conversation ON conversation_messages (conversation_id, created_at);

-- GuaribasLog (partitioned).
CREATE TABLE logs (
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    customer_id  uuid NOT NULL,
    instance_id  uuid NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('i', 'w', 'e', 'd')),
    message      text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX logs_instance ON logs (instance_id, created_at);

-- Real-time rooms (meetings, lives).
CREATE TABLE rooms (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id  uuid NOT NULL,
    instance_id  uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    name         text NOT NULL,
    kind         text NOT NULL DEFAULT 'meeting' CHECK (kind IN ('meeting', 'live')),
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    config       jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    closed_at    timestamptz
);
CREATE INDEX rooms_instance ON rooms (instance_id, status);

-- Chat messages (partitioned). Messaging (issue 4) adds positions, delivery status and search.
CREATE TABLE messages (
    id               uuid NOT NULL,
    customer_id      uuid NOT NULL,
    instance_id      uuid NOT NULL,
    conversation_id  uuid NOT NULL,
    sender_id        uuid,
    kind             text NOT NULL CHECK (kind IN ('text', 'rich', 'file', 'system', 'bot')),
    content          text NOT NULL DEFAULT '',
    metadata         jsonb NOT NULL DEFAULT '{}',
    shard_key        integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX messages_conversation ON messages (conversation_id, created_at);

-- Usage metering: raw events (partitioned) and roll-ups per period.
CREATE TABLE usage_events (
    customer_id  uuid NOT NULL,
    instance_id  uuid,
    kind         text NOT NULL CHECK (kind IN ('message', 'connection_minute', 'media_minute',
                                               'bot_run', 'storage_byte_day')),
    quantity     bigint NOT NULL CHECK (quantity >= 0),
    created_at   timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (created_at);
CREATE INDEX usage_events_customer ON usage_events (customer_id, created_at);

CREATE TABLE usage_rollups (
    customer_id   uuid NOT NULL,
    instance_id   uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',  -- nil: customer-wide
    kind          text NOT NULL,
    period        text NOT NULL CHECK (period IN ('day', 'month')),
    period_start  date NOT NULL,
    quantity      bigint NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, instance_id, kind, period, period_start)
);

-- Audit log (partitioned): who did what to which resource.
CREATE TABLE audit_log (
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    customer_id  uuid NOT NULL,
    actor        text NOT NULL,
    action       text NOT NULL,
    target       text NOT NULL,
    details      jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX audit_log_customer ON audit_log (customer_id, created_at);

-- Row-level security on every table of the shard.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['instances', 'instance_features', 'admin_settings', 'applications',
                             'channels', 'packages', 'schedules', 'users', 'groups',
                             'user_groups', 'subjects', 'answers', 'questions',
                             'question_alternates', 'conversations', 'conversation_messages',
                             'logs', 'rooms', 'messages', 'usage_events', 'usage_rollups',
                             'audit_log']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (customer_id = gb_current_customer())
                        WITH CHECK (customer_id = gb_current_customer())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO gb_app, gb_platform', t);
    END LOOP;
END
$$;
GRANT EXECUTE ON FUNCTION gb_current_customer() TO gb_app, gb_platform;
