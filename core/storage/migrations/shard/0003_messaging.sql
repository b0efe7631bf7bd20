-- Messaging (issue 4): conversation members, message positions and idempotency keys, delivery
-- status per recipient, full-text search, and the persister's log watermarks.
--
-- Users are referred to by the identity's user string (the token's subject), not by users.id:
-- a client app's users need not be rows of `users` to chat.

ALTER TABLE conversations
    ADD COLUMN title       text,
    ADD COLUMN kind        text NOT NULL DEFAULT 'group' CHECK (kind IN ('direct', 'group', 'bot')),
    ADD COLUMN created_by  text;

CREATE TABLE conversation_members (
    customer_id      uuid NOT NULL,
    conversation_id  uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_ref         text NOT NULL CHECK (length(user_ref) BETWEEN 1 AND 256),
    role             text NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member')),
    joined_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, user_ref)
);
CREATE INDEX conversation_members_user ON conversation_members (customer_id, user_ref);

-- position: the record's offset in its log partition (monotonic per conversation, may skip).
-- sender: the identity's user string; client_key: the sender's idempotency key.
-- lang: the text-search configuration of the instance when the row was written.
ALTER TABLE messages
    ADD COLUMN sender         text NOT NULL DEFAULT '',
    ADD COLUMN position       bigint NOT NULL DEFAULT 0,
    ADD COLUMN log_partition  integer NOT NULL DEFAULT 0,
    ADD COLUMN client_key     text,
    ADD COLUMN lang           regconfig NOT NULL DEFAULT 'simple',
    ADD COLUMN search         tsvector GENERATED ALWAYS AS (to_tsvector(lang, content)) STORED;
DROP INDEX messages_conversation;
CREATE INDEX messages_conversation ON messages (conversation_id, position);
CREATE INDEX messages_search ON messages USING gin (search);

-- The first result of every (sender, client key): the durable half of idempotency (the node
-- answers repeats from Redis while the key is recent; this table once it is persisted).
CREATE TABLE message_keys (
    customer_id      uuid NOT NULL,
    conversation_id  uuid NOT NULL,
    sender           text NOT NULL,
    client_key       text NOT NULL,
    message_id       uuid NOT NULL,
    position         bigint NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, sender, client_key)
);

-- Delivery status per recipient: 1 delivered, 2 read; only ever moves forward.
CREATE TABLE message_status (
    customer_id      uuid NOT NULL,
    conversation_id  uuid NOT NULL,
    message_id       uuid NOT NULL,
    user_ref         text NOT NULL,
    status           smallint NOT NULL CHECK (status IN (1, 2)),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, user_ref)
);
CREATE INDEX message_status_conversation ON message_status (conversation_id, user_ref);

-- Text-search language per instance (a regconfig name: 'english', 'portuguese', 'simple' ...).
ALTER TABLE instances ADD COLUMN text_search text NOT NULL DEFAULT 'simple';

-- The persister's progress per log partition, written in the same transaction as the rows:
-- every record of the partition below `next_offset` is in this shard (recovery reads PostgreSQL
-- up to it and the recent-history cache above it). Platform-owned: no customer_id, no RLS.
CREATE TABLE log_watermarks (
    topic        text NOT NULL,
    partition    integer NOT NULL,
    next_offset  bigint NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);
GRANT SELECT ON log_watermarks TO gb_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON log_watermarks TO gb_platform;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['conversation_members', 'message_keys', 'message_status']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (customer_id = gb_current_customer())
                        WITH CHECK (customer_id = gb_current_customer())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO gb_app, gb_platform', t);
    END LOOP;
END
$$;

SELECT gb_track_changes(t)
FROM unnest(ARRAY['conversation_members', 'message_keys', 'message_status']::regclass[]) AS t;
