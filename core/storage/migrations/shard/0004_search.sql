-- Full-text search of messages under row-level security (issue 4, search).
--
-- Under the messages policy no search made as gb_app could use the GIN index: a policy's
-- conditions must run before the query's own, and only leakproof operators may be evaluated
-- ahead of them (an index condition is), while tsvector @@ tsquery (ts_match_vq) is not marked
-- leakproof. Every search would read all of the customer's messages.
--
-- So searches read this view. Its owner is gb_platform (BYPASSRLS), so the policy is not applied
-- beneath it, and it applies the policy's own condition instead: customer_id =
-- gb_current_customer(), the customer of the transaction (Database.tenant sets it; with none
-- set the view is empty). It is not a security_barrier view, so the planner may run the search
-- condition first, through the index. What may run ahead of the tenant condition is only the
-- fixed SQL of gb.core.messaging.search (comparisons and text-search operators, no user-written
-- SQL), and the rows that come out are always the customer's. gb_app may only read the view.
CREATE VIEW message_search AS
    SELECT id, customer_id, instance_id, conversation_id, sender, kind, content, metadata,
           created_at, position, client_key, lang, search
    FROM messages
    WHERE customer_id = gb_current_customer();

ALTER VIEW message_search OWNER TO gb_platform;
REVOKE ALL ON message_search FROM PUBLIC;
GRANT SELECT ON message_search TO gb_app;
