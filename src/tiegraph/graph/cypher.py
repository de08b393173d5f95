"""Every Cypher statement tiegraph runs. Parameterised, and filtered by tenant, always."""

from typing import LiteralString

SCHEMA = [
    "CREATE CONSTRAINT person_key IF NOT EXISTS FOR (p:Person) REQUIRE (p.tenant, p.email) IS UNIQUE",
    "CREATE CONSTRAINT organization_key IF NOT EXISTS FOR (o:Organization) REQUIRE (o.tenant, o.domain) IS UNIQUE",
    "CREATE CONSTRAINT tenant_name IF NOT EXISTS FOR (t:Tenant) REQUIRE t.name IS UNIQUE",
    "CREATE CONSTRAINT api_key_hash IF NOT EXISTS FOR (k:ApiKey) REQUIRE k.hash IS UNIQUE",
    "CREATE CONSTRAINT counter_key IF NOT EXISTS FOR (c:Counter) REQUIRE (c.tenant, c.name, c.partition) IS UNIQUE",
    "CREATE CONSTRAINT mailbox_key IF NOT EXISTS FOR (m:Mailbox) REQUIRE (m.tenant, m.id) IS UNIQUE",
    "CREATE INDEX person_tenant IF NOT EXISTS FOR (p:Person) ON (p.tenant)",
    "CREATE INDEX organization_tenant IF NOT EXISTS FOR (o:Organization) ON (o.tenant)",
    "CREATE INDEX knows_tenant IF NOT EXISTS FOR ()-[k:KNOWS]-() ON (k.tenant)",
    "CREATE INDEX alias_tenant IF NOT EXISTS FOR ()-[k:ALIAS_OF]-() ON (k.tenant)",
]

# A batch of ties is two statements in one transaction (GraphStore.write_ties). First the
# blocklists of the batch's tenants, which the writer checks every person against
# (core/blocklist.py): a tie with a blocked person (an address, or one under a blocked domain) is
# never written, whatever a worker's cached blocklist says, so an update already on its way when
# the person was erased cannot bring them back, and nobody is created for a tie that is dropped.
# Then WRITE_TIES, which checks each person again as it merges them: an erasure that committed
# after the first read must not find its person recreated.
BLOCKLISTS_OF = "MATCH (x:Blocked) WHERE x.tenant IN $tenants RETURN x.tenant AS tenant, x.value AS value"

# Each person of the batch merged once (people_and_ties), then the ties between them: merging both
# people of every row merged and set a hub with hundreds of ties in a batch hundreds of times. Every value is absolute,
# so a replayed batch changes nothing, and the edge's properties are replaced, not merged: a tie
# recreated after an erase keeps nothing of the old one.
WRITE_TIES = """
UNWIND $people AS p
WITH p WHERE NOT EXISTS {
  MATCH (x:Blocked {tenant: p.tenant})
  WHERE x.value = p.email
     OR (NOT x.value CONTAINS '@' AND (p.email ENDS WITH '@' + x.value OR p.email ENDS WITH '.' + x.value))
}
MERGE (x:Person {tenant: p.tenant, email: p.email})
  ON CREATE SET x.name = p.name
SET x.internal = p.internal,
    x.name = CASE WHEN p.name <> '' THEN p.name ELSE x.name END,
    x.sends = coalesce(x.sends, false) OR p.sent
FOREACH (_ IN CASE WHEN p.org IS NULL THEN [] ELSE [1] END |
  MERGE (o:Organization {tenant: p.tenant, domain: p.org})
  MERGE (x)-[:WORKS_AT]->(o))
WITH count(*) AS merged
UNWIND $rows AS r
// A person blocked since the first read was not merged: erased, their ties find nobody here; not
// erased yet, the erasure (which blocks first) deletes them with these ties after this commits.
MATCH (a:Person {tenant: r.tenant, email: r.a})
MATCH (b:Person {tenant: r.tenant, email: r.b})
MERGE (a)-[k:KNOWS]->(b)
WITH k, r
// A row without an offset (a rewrite) always applies. Otherwise a state that counts fewer
// interactions never overwrites one that counts more: a worker that lost the tie's partition in a
// rebalance can still land an in-flight update after the new owner's, and that update has a
// later offset but a subset of the interactions (every owner builds on the same changelog and
// replays the same partition). Between equal counts, the later offset wins.
WHERE r.offset IS NULL
   OR coalesce(k.interactions, -1) < r.props.interactions
   OR (coalesce(k.interactions, -1) = r.props.interactions AND coalesce(k.update_offset, -1) <= r.offset)
SET k = r.props, k.update_offset = r.offset
"""

# A mailbox owner's aliases (core/aliases.py): (alias)-[:ALIAS_OF]->(owner), one owner per alias
# (the latest record of the alias wins, by offset). Ties stay on the addresses they were seen
# with; reads fold them (api/aliases.py). Blocked people are never linked, as for ties.
WRITE_ALIASES = """
UNWIND $rows AS r
WITH r WHERE NOT EXISTS {
  MATCH (x:Blocked {tenant: r.tenant})
  WHERE x.value IN [r.alias, r.owner]
     OR (NOT x.value CONTAINS '@'
         AND any(e IN [r.alias, r.owner] WHERE e ENDS WITH '@' + x.value OR e ENDS WITH '.' + x.value))
}
MERGE (a:Person {tenant: r.tenant, email: r.alias})
  ON CREATE SET a.name = r.name, a.internal = r.alias_internal
MERGE (o:Person {tenant: r.tenant, email: r.owner})
  ON CREATE SET o.name = '', o.internal = r.owner_internal
WITH a, o, r
OPTIONAL MATCH (a)-[old:ALIAS_OF]->(other:Person)
WITH a, o, r, collect(old) AS olds, max(old.update_offset) AS newest
WHERE newest IS NULL OR newest <= r.offset
FOREACH (x IN olds | DELETE x)
CREATE (a)-[:ALIAS_OF {tenant: r.tenant, name: r.name, messages: r.messages, update_offset: r.offset}]->(o)
"""

# Aliases erased on the topic (a tombstone on aliases.v1).
DELETE_ALIASES = """
UNWIND $rows AS r
MATCH (:Person {tenant: r.tenant, email: r.alias})-[k:ALIAS_OF]->(:Person)
WHERE coalesce(k.update_offset, -1) <= r.offset
DELETE k
"""

ALIASES = """
MATCH (a:Person)-[k:ALIAS_OF {tenant: $tenant}]->(o:Person)
RETURN a.email AS alias, o.email AS owner, coalesce(k.name, '') AS name, coalesce(k.messages, 0) AS messages
ORDER BY owner, alias
"""

# Counters count distinct keys of a changelogged set, which only grows: the larger value wins, so
# a worker that lost its partition in a rebalance and publishes a count from its stale view of
# the set after the new owner cannot lower it (ordering by offset alone would let it).
WRITE_COUNTERS = """
UNWIND $rows AS r
MERGE (c:Counter {tenant: r.tenant, name: r.name, partition: r.partition})
SET c.value = CASE WHEN c.value IS NULL OR r.value > c.value THEN r.value ELSE c.value END,
    c.update_offset = CASE WHEN r.offset > coalesce(c.update_offset, -1) THEN r.offset ELSE c.update_offset END
"""

CREATE_TENANT = """
MERGE (t:Tenant {name: $name})
  ON CREATE SET t.created_at = $now, t.domains = $domains
  ON MATCH SET t.domains = $domains
CREATE (k:ApiKey {hash: $key_hash, tenant: $name, created_at: $now})
RETURN t.name AS name, t.domains AS domains, t.model AS model
"""

CONFIGURE_TENANT = """
MATCH (t:Tenant {name: $name})
SET t.model = $model
RETURN t.name AS name, coalesce(t.domains, []) AS domains, t.model AS model
"""

# A tenant's whole graph, label by label, in transactions of 5,000 nodes each (a tenant of millions
# of ties never needs one huge transaction); DETACH takes their KNOWS, ALIAS_OF and WORKS_AT along.
# CALL { } IN TRANSACTIONS runs only in an auto-commit transaction (GraphStore.delete_tenant_graph).
# Relationships first, 10,000 a transaction: a batch of 5,000 people with their ties deleted at
# once (DETACH) took ~100,000 relationships into one transaction at 1M ties and exceeded Neo4j's
# transaction memory pool; a hub's ties alone can be thousands.
DELETE_TENANT_GRAPH: tuple[LiteralString, ...] = (
    "MATCH (:Person {tenant: $tenant})-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS",
    "MATCH (n:Person {tenant: $tenant}) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 5000 ROWS",
    "MATCH (n:Organization {tenant: $tenant}) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 5000 ROWS",
    "MATCH (n:Counter {tenant: $tenant}) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 5000 ROWS",
    "MATCH (n:Mailbox {tenant: $tenant}) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 5000 ROWS",
    "MATCH (n:Blocked {tenant: $tenant}) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 5000 ROWS",
    "MATCH (n:ApiKey {tenant: $tenant}) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 5000 ROWS",
    "MATCH (t:Tenant {name: $tenant}) DETACH DELETE t",
)

TENANTS = "MATCH (t:Tenant) RETURN t.name AS name, coalesce(t.domains, []) AS domains, t.model AS model"

# The key's tenant with the tenant's aliases, which nearly every read needs (api/aliases.py): one
# round trip for both.
TENANT_BY_KEY = """
MATCH (k:ApiKey {hash: $key_hash}) WHERE k.revoked_at IS NULL
MATCH (t:Tenant {name: k.tenant})
CALL (t) {
  MATCH (a:Person)-[l:ALIAS_OF {tenant: t.name}]->(o:Person)
  WITH a, l, o ORDER BY o.email, a.email
  RETURN collect({alias: a.email, owner: o.email, name: coalesce(l.name, ''), messages: coalesce(l.messages, 0)})
         AS aliases
}
RETURN t.name AS name, coalesce(t.domains, []) AS domains, t.model AS model, aliases
"""

PERSON = """
MATCH (p:Person {tenant: $tenant, email: $email})
OPTIONAL MATCH (p)-[:WORKS_AT]->(o:Organization)
RETURN p.email AS email, coalesce(p.name, '') AS name, coalesce(p.internal, false) AS internal,
       o.domain AS organization, COUNT { (p)-[:KNOWS]-() } AS ties
"""

# Every contact, streamed row by row (not collected into one list like the ranked reads: a hub's
# whole contact list would be built in the server's heap at once); for erasure and going-cold.
CONTACTS = """
MATCH (p:Person {tenant: $tenant, email: $email})-[k:KNOWS]-(c:Person)
OPTIONAL MATCH (c)-[:WORKS_AT]->(o:Organization)
RETURN c.email AS email, coalesce(c.name, '') AS name, coalesce(c.internal, false) AS internal,
       o.domain AS organization, properties(k) AS tie, startNode(k) = p AS person_is_a,
       coalesce(c.sends, false) AS sends, COUNT { (c)-[:KNOWS]-() } AS correspondents
"""

AWAITING_REPLY = """
MATCH (p:Person {tenant: $tenant, email: $email})-[k:KNOWS]-(c:Person)
WITH p, k, c, startNode(k) = p AS person_is_a
WITH p, k, c, person_is_a,
     CASE WHEN person_is_a THEN k.awaiting_a ELSE k.awaiting_b END AS owed,
     CASE WHEN person_is_a THEN k.awaiting_a_at ELSE k.awaiting_b_at END AS since
WHERE owed > 0
WITH p, k, c, person_is_a, owed, since ORDER BY since DESC, c.email LIMIT $limit
OPTIONAL MATCH (c)-[:WORKS_AT]->(o:Organization)
RETURN collect({email: c.email, name: coalesce(c.name, ''), internal: coalesce(c.internal, false),
                organization: o.domain, owed: owed, since: since, tie: properties(k), person_is_a: person_is_a}) AS rows
"""

TIE = """
MATCH (a:Person {tenant: $tenant, email: $a})-[k:KNOWS]-(b:Person {tenant: $tenant, email: $b})
RETURN properties(k) AS tie, startNode(k) = a AS first_is_a
"""

# Every person, organisation and tie of a tenant read once, properties included, so their store
# pages are in Neo4j's page cache: after a restart, or after other tenants' writes evicted them.
WARM_TENANT = """
CALL () { MATCH (o:Organization {tenant: $tenant}) RETURN count(o.domain) AS organizations }
CALL () { MATCH (p:Person) WHERE p.tenant = $tenant AND p.email >= '' RETURN count(*) AS keyed }
MATCH (p:Person {tenant: $tenant})
OPTIONAL MATCH (p)-[k:KNOWS]->()
RETURN organizations, keyed, count(DISTINCT p) AS people, count(k) AS ties,
       sum(size(keys(properties(p)))) + sum(size(keys(properties(k)))) AS properties
"""

STATS = """
CALL () { MATCH (c:Counter {tenant: $tenant, name: 'messages'}) RETURN coalesce(sum(c.value), 0) AS messages }
CALL () { MATCH (c:Counter {tenant: $tenant, name: 'meetings'}) RETURN coalesce(sum(c.value), 0) AS meetings }
CALL () { MATCH (c:Counter {tenant: $tenant, name: 'dead_letters'}) RETURN coalesce(sum(c.value), 0) AS dead_letters }
CALL () { MATCH (p:Person {tenant: $tenant}) RETURN count(p) AS people }
CALL () { MATCH (o:Organization {tenant: $tenant}) RETURN count(o) AS organizations }
CALL () { MATCH ()-[k:KNOWS {tenant: $tenant}]->() RETURN count(k) AS ties }
RETURN messages, meetings, dead_letters, people, organizations, ties
"""

TENANT_TIES = """
MATCH (a:Person)-[k:KNOWS {tenant: $tenant}]->(b:Person)
RETURN a.email AS a, b.email AS b, properties(k) AS tie
ORDER BY a, b
"""

# -- operations (ops page, lag and readiness) ---------------------------------------------------

# One node per worker process (`role`: its stream stages or its graph writer), rewritten every
# few seconds; heartbeats older than a day are dropped here so restarted workers do not pile up.
WRITE_WORKER_STATUS = """
MERGE (w:WorkerStatus {id: $status.id})
SET w += $status
WITH w
MATCH (old:WorkerStatus {app_id: w.app_id}) WHERE old.heartbeat_at < $status.heartbeat_at - 86400
DELETE old
"""

WORKER_STATUSES = """
MATCH (w:WorkerStatus {app_id: $app_id})
RETURN properties(w) AS status
ORDER BY w.heartbeat_at DESC
"""

# Mailbox nodes belong to the connector registry; ops only reads them (across tenants: operators).
MAILBOX_STATES = """
MATCH (m:Mailbox)
RETURN m.tenant AS tenant, m.id AS id, m.provider AS provider, m.owner AS owner, m.state AS state,
       m.state_since AS state_since, m.last_success_at AS last_success_at, m.last_error AS last_error,
       coalesce(m.messages, 0) AS messages, coalesce(m.events, 0) AS events
ORDER BY tenant, owner, id
"""

PUT_MAILBOX = """
MERGE (m:Mailbox {tenant: $mailbox.tenant, id: $mailbox.id})
SET m += $mailbox
"""

# -- the mailbox registry (graph/mailboxes.py) ---------------------------------------------------
# Properties read by the ops page: tenant, id, provider, owner, state, state_since, last_success_at,
# last_error, messages, events, config, secret (encrypted), cursor, created_at. A runner holds a
# mailbox through lease_owner/lease_until; every progress write checks the lease, so a runner that
# lost its mailbox to another can never move the cursor.

_MAILBOX_PUBLIC = """m {.tenant, .id, .provider, .owner, .state, .state_since, .last_success_at, .last_error,
   .messages, .events, .config, .cursor, .created_at, .retry_at, .lease_owner, .lease_until}"""

ADD_MAILBOX = (
    """
MATCH (t:Tenant {name: $tenant})
MERGE (m:Mailbox {tenant: $tenant, id: $id})
  ON CREATE SET m.created_at = $now, m.messages = 0, m.events = 0, m.cursor = '{}', m.last_success_at = null
SET m.provider = $provider, m.owner = $owner, m.config = $config, m.secret = $secret,
    m.state = 'pending', m.state_since = $now, m.last_error = '', m.retry_at = null
RETURN """
    + _MAILBOX_PUBLIC
    + " AS mailbox"
)

MAILBOXES = (
    """
MATCH (m:Mailbox)
WHERE $tenant IS NULL OR m.tenant = $tenant
RETURN """
    + _MAILBOX_PUBLIC
    + """ AS mailbox
ORDER BY m.tenant, m.id
"""
)

REMOVE_MAILBOX = """
MATCH (m:Mailbox {tenant: $tenant, id: $id})
DETACH DELETE m
RETURN count(*) AS removed
"""

# Take (or renew) the lease when it is free, expired, or already ours; returns the sealed secret too.
CLAIM_MAILBOX = (
    """
MATCH (m:Mailbox {tenant: $tenant, id: $id})
WHERE m.lease_until IS NULL OR m.lease_until < $now OR m.lease_owner = $runner
SET m.lease_owner = $runner, m.lease_until = $now + $lease_seconds
RETURN """
    + _MAILBOX_PUBLIC
    + " AS mailbox, m.secret AS secret"
)

RELEASE_MAILBOX = """
MATCH (m:Mailbox {tenant: $tenant, id: $id})
WHERE m.lease_owner = $runner
SET m.lease_owner = null, m.lease_until = null
"""

# After Kafka acknowledged the batch: cursor, counts and state in one write, only under our lease.
SAVE_MAILBOX_PROGRESS = """
MATCH (m:Mailbox {tenant: $tenant, id: $id})
WHERE m.lease_owner = $runner
SET m.cursor = $cursor,
    m.messages = coalesce(m.messages, 0) + $messages,
    m.events = coalesce(m.events, 0) + $events,
    m.state_since = CASE WHEN m.state = $state THEN m.state_since ELSE $now END,
    m.state = $state,
    m.last_error = '',
    m.retry_at = null,
    m.last_success_at = CASE WHEN $success THEN $now ELSE m.last_success_at END,
    m.lease_until = $now + $lease_seconds
RETURN count(*) AS saved
"""

SET_MAILBOX_STATE = """
MATCH (m:Mailbox {tenant: $tenant, id: $id})
WHERE m.lease_owner = $runner
SET m.state_since = CASE WHEN m.state = $state THEN m.state_since ELSE $now END,
    m.state = $state,
    m.last_error = $error,
    m.retry_at = $retry_at,
    m.cursor = coalesce($cursor, m.cursor)
RETURN count(*) AS saved
"""

# A connector's provider replaced its credentials (a rotated refresh token): store the new sealed
# secret, only under our lease and only over the one we started with (a `mailboxes add` meanwhile wins).
SAVE_MAILBOX_SECRET = """
MATCH (m:Mailbox {tenant: $tenant, id: $id})
WHERE m.lease_owner = $runner AND m.secret = $previous
SET m.secret = $secret
RETURN count(*) AS saved
"""
