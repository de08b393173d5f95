"""Every Cypher statement tiegraph runs. Parameterised, and filtered by tenant, always."""

SCHEMA = [
    "CREATE CONSTRAINT person_key IF NOT EXISTS FOR (p:Person) REQUIRE (p.tenant, p.email) IS UNIQUE",
    "CREATE CONSTRAINT organization_key IF NOT EXISTS FOR (o:Organization) REQUIRE (o.tenant, o.domain) IS UNIQUE",
    "CREATE CONSTRAINT tenant_name IF NOT EXISTS FOR (t:Tenant) REQUIRE t.name IS UNIQUE",
    "CREATE CONSTRAINT api_key_hash IF NOT EXISTS FOR (k:ApiKey) REQUIRE k.hash IS UNIQUE",
    "CREATE CONSTRAINT counter_key IF NOT EXISTS FOR (c:Counter) REQUIRE (c.tenant, c.name, c.partition) IS UNIQUE",
    "CREATE INDEX person_tenant IF NOT EXISTS FOR (p:Person) ON (p.tenant)",
    "CREATE INDEX organization_tenant IF NOT EXISTS FOR (o:Organization) ON (o.tenant)",
    "CREATE INDEX knows_tenant IF NOT EXISTS FOR ()-[k:KNOWS]-() ON (k.tenant)",
]

# One statement per batch. Every value is absolute, so a replayed batch changes nothing.
WRITE_TIES = """
UNWIND $rows AS r
MERGE (a:Person {tenant: r.tenant, email: r.a})
  ON CREATE SET a.name = r.a_name
SET a.internal = r.a_internal,
    a.name = CASE WHEN r.a_name <> '' THEN r.a_name ELSE a.name END,
    a.sends = coalesce(a.sends, false) OR r.a_sent
MERGE (b:Person {tenant: r.tenant, email: r.b})
  ON CREATE SET b.name = r.b_name
SET b.internal = r.b_internal,
    b.name = CASE WHEN r.b_name <> '' THEN r.b_name ELSE b.name END,
    b.sends = coalesce(b.sends, false) OR r.b_sent
MERGE (a)-[k:KNOWS]->(b)
WITH a, b, k, r
// a row without an offset (a rewrite) always applies; otherwise an older offset never overwrites
WHERE r.offset IS NULL OR coalesce(k.update_offset, -1) <= r.offset
SET k += r.props, k.update_offset = r.offset
FOREACH (_ IN CASE WHEN r.a_org IS NULL THEN [] ELSE [1] END |
  MERGE (oa:Organization {tenant: r.tenant, domain: r.a_org})
  MERGE (a)-[:WORKS_AT]->(oa))
FOREACH (_ IN CASE WHEN r.b_org IS NULL THEN [] ELSE [1] END |
  MERGE (ob:Organization {tenant: r.tenant, domain: r.b_org})
  MERGE (b)-[:WORKS_AT]->(ob))
"""

WRITE_COUNTERS = """
UNWIND $rows AS r
MERGE (c:Counter {tenant: r.tenant, name: r.name, partition: r.partition})
WITH c, r
WHERE r.offset IS NULL OR coalesce(c.update_offset, -1) <= r.offset
SET c.value = r.value, c.update_offset = r.offset
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

TENANTS = "MATCH (t:Tenant) RETURN t.name AS name, coalesce(t.domains, []) AS domains, t.model AS model"

TENANT_BY_KEY = """
MATCH (k:ApiKey {hash: $key_hash}) WHERE k.revoked_at IS NULL
MATCH (t:Tenant {name: k.tenant})
RETURN t.name AS name, coalesce(t.domains, []) AS domains, t.model AS model
"""

PERSON = """
MATCH (p:Person {tenant: $tenant, email: $email})
OPTIONAL MATCH (p)-[:WORKS_AT]->(o:Organization)
RETURN p.email AS email, coalesce(p.name, '') AS name, coalesce(p.internal, false) AS internal,
       o.domain AS organization, COUNT { (p)-[:KNOWS]-() } AS ties
"""

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
OPTIONAL MATCH (c)-[:WORKS_AT]->(o:Organization)
RETURN c.email AS email, coalesce(c.name, '') AS name, coalesce(c.internal, false) AS internal,
       o.domain AS organization, owed, since, properties(k) AS tie, person_is_a
ORDER BY since DESC, email
LIMIT $limit
"""

TIE = """
MATCH (a:Person {tenant: $tenant, email: $a})-[k:KNOWS]-(b:Person {tenant: $tenant, email: $b})
RETURN properties(k) AS tie, startNode(k) = a AS first_is_a
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
