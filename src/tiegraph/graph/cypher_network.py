"""Cypher for the network reads (who knows, paths, coverage, going cold) and for erasure,
blocklists and API keys. Parameterised and filtered by tenant, always. A read that can return
many rows returns them collected into one, `rows` (NetworkStore._read_rows): the driver's cost
is per record."""

SCHEMA = [
    "CREATE CONSTRAINT blocked_key IF NOT EXISTS FOR (b:Blocked) REQUIRE (b.tenant, b.value) IS UNIQUE",
]

# A tie's exact strength at $now under the tenant's model ($fs fast share, $hf / $hs half-lives in
# seconds, $sat saturation, $cap one-way cap): the same formula as core/ties.py score_tie, so the
# database can rank a person's ties and keep the strongest without shipping all of them.
_STRENGTH = """
  WITH *, CASE WHEN $now > k.ref_at THEN $now - k.ref_at ELSE 0.0 END AS dt
  WITH *, $fs * k.fast_ab * 2.0 ^ (-dt / $hf) + (1 - $fs) * k.slow_ab * 2.0 ^ (-dt / $hs) AS i_ab,
          $fs * k.fast_ba * 2.0 ^ (-dt / $hf) + (1 - $fs) * k.slow_ba * 2.0 ^ (-dt / $hs) AS i_ba
  WITH *, i_ab + i_ba AS total, CASE WHEN i_ab < i_ba THEN i_ab ELSE i_ba END AS low
  WITH *, CASE WHEN total <= 0 THEN 0.0
          ELSE (1 - exp(-total / $sat)) * ($cap + (1 - $cap) * sqrt(2 * low / total)) END AS s
"""

# Each of $emails with their ties (optionally only to our own people), inside a subquery per person.
_EACH_ONES_TIES = """
UNWIND $emails AS email
MATCH (x:Person {tenant: $tenant, email: email})
CALL (x) {
  MATCH (x)-[k:KNOWS]-(y:Person)
  WHERE NOT $internal_only OR y.internal
"""

# The strongest `$fanout` ties of each of $emails (optionally only to our own people), as
# (from, to, to is ours, the tie's strength): the bounded neighbourhood for path search.
NEIGHBOURS = (
    _EACH_ONES_TIES
    + _STRENGTH
    + """
  WHERE s >= $min_strength
  ORDER BY s DESC LIMIT $fanout
  RETURN y.email AS other, coalesce(y.internal, false) AS internal, s
}
RETURN collect({email: x.email, other: other, internal: internal, s: s}) AS rows
"""
)

# NEIGHBOURS over each person's `$candidates` ties with the highest bound keys (see
# STRONGEST_CONTACTS_BOUNDED): one row per person with what was found, how many candidates were
# taken and the lowest key among them, so the caller can ask NEIGHBOURS again for the people where
# a tie left out could have ranked.
NEIGHBOURS_BOUNDED = (
    _EACH_ONES_TIES
    + """  WITH k, y, coalesce(k.bound_key, 1.0e300) AS key ORDER BY key DESC LIMIT $candidates
  RETURN collect({k: k, y: y}) AS taken, min(key) AS cutoff
}
CALL (taken) {
  UNWIND taken AS t
  WITH t.k AS k, t.y AS y
"""
    + _STRENGTH
    + """
  WHERE s >= $min_strength
  WITH y, s ORDER BY s DESC LIMIT $fanout
  RETURN collect({other: y.email, internal: coalesce(y.internal, false), s: s}) AS found
}
RETURN collect({email: x.email, found: found, candidates: size(taken), cutoff: cutoff}) AS rows
"""
)

# Ties among two bounded sets of people (the middle of a path from a named person).
TIES_BETWEEN_SETS = (
    """
UNWIND $left AS email
MATCH (x:Person {tenant: $tenant, email: email})-[k:KNOWS]-(y:Person)
WHERE y.email IN $right
"""
    + _STRENGTH
    + """
RETURN collect({email: x.email, other: y.email, internal: coalesce(y.internal, false), s: s}) AS rows
"""
)

# Full properties of a list of ties, for explaining each hop of the chosen paths.
TIES = """
UNWIND $pairs AS pair
MATCH (a:Person {tenant: $tenant, email: pair[0]})-[k:KNOWS]-(b:Person {tenant: $tenant, email: pair[1]})
RETURN collect({a: a.email, b: b.email, tie: properties(k), first_is_a: startNode(k) = a}) AS rows
"""

PEOPLE = """
UNWIND $emails AS email
MATCH (p:Person {tenant: $tenant, email: email})
OPTIONAL MATCH (p)-[:WORKS_AT]->(o:Organization)
RETURN collect({email: p.email, name: coalesce(p.name, ''), internal: coalesce(p.internal, false),
                organization: o.domain, ties: COUNT { (p)-[:KNOWS]-() }}) AS rows
"""

ORGANIZATION_MEMBERS = """
MATCH (:Organization {tenant: $tenant, domain: $domain})<-[:WORKS_AT]-(m:Person)
RETURN collect({email: m.email, name: coalesce(m.name, '')}) AS rows
"""

ORGANIZATION = """
MATCH (o:Organization {tenant: $tenant, domain: $domain})
RETURN o.domain AS domain, COUNT { (o)<-[:WORKS_AT]-() } AS members
"""

# Erasure: the person with every tie and affiliation; organisations left with nobody go after.
ERASE_PERSON = """
MATCH (p:Person {tenant: $tenant, email: $email})
OPTIONAL MATCH (p)-[:WORKS_AT]->(o:Organization)
WITH p, collect(o.domain) AS domains, COUNT { (p)-[:KNOWS]-() } AS ties
DETACH DELETE p
RETURN domains, ties
"""

DELETE_EMPTY_ORGANIZATIONS = """
UNWIND $domains AS domain
MATCH (o:Organization {tenant: $tenant, domain: domain})
WHERE NOT (o)<-[:WORKS_AT]-()
DELETE o
"""

# Every person of the tenant whose address is at the domain or one of its subdomains.
PEOPLE_AT_DOMAIN = """
MATCH (p:Person {tenant: $tenant})
WHERE p.email ENDS WITH '@' + $domain OR p.email ENDS WITH '.' + $domain
RETURN p.email AS email
"""

BLOCK = """
MERGE (b:Blocked {tenant: $tenant, value: $value})
  ON CREATE SET b.kind = $kind, b.created_at = $now
RETURN b.value AS value, b.kind AS kind, b.created_at AS created_at
"""

UNBLOCK = """
MATCH (b:Blocked {tenant: $tenant, value: $value})
DELETE b
RETURN count(*) AS removed
"""

BLOCKLIST = """
MATCH (b:Blocked {tenant: $tenant})
RETURN b.value AS value, b.kind AS kind, b.created_at AS created_at
ORDER BY b.kind, b.value
"""

ALL_BLOCKLISTS = "MATCH (b:Blocked) RETURN b.tenant AS tenant, b.value AS value"

ADD_KEY = """
MATCH (t:Tenant {name: $name})
CREATE (k:ApiKey {hash: $key_hash, tenant: $name, created_at: $now})
RETURN substring(k.hash, 0, 12) AS id
"""

KEYS = """
MATCH (k:ApiKey {tenant: $name})
RETURN substring(k.hash, 0, 12) AS id, k.created_at AS created_at, k.revoked_at AS revoked_at
ORDER BY k.created_at
"""

REVOKE_KEY = """
MATCH (k:ApiKey {tenant: $name}) WHERE k.hash STARTS WITH $id AND k.revoked_at IS NULL
SET k.revoked_at = $now
RETURN count(k) AS revoked
"""

# A person's strongest contacts at $now, distribution groups left out (an address that never
# sends and that $group_min or more people write to), ranked and cut in the database so that a
# person with thousands of ties ships only `$limit` of them.
STRONGEST_CONTACTS = (
    """
MATCH (p:Person {tenant: $tenant, email: $email})-[k:KNOWS]-(c:Person)
WHERE coalesce(c.sends, false) OR COUNT { (c)-[:KNOWS]-() } < $group_min
"""
    + _STRENGTH
    + """
WITH p, c, k, s ORDER BY s DESC, c.email LIMIT $limit
OPTIONAL MATCH (c)-[:WORKS_AT]->(o:Organization)
RETURN collect({email: c.email, name: coalesce(c.name, ''), internal: coalesce(c.internal, false),
                organization: o.domain, tie: properties(k), person_is_a: startNode(k) = p}) AS rows
"""
)

# The same ranking over a person's `$candidates` ties with the highest bound keys only (core/ties.py
# strength_bound_key; a tie written before keys existed counts as unbounded): each row also says
# how many candidates were taken and the lowest key among them, so the caller can tell whether a
# tie left out could have ranked (and then asks STRONGEST_CONTACTS). For a person with thousands
# of ties this reads one property of each instead of scoring them all. `c` without its label: a
# KNOWS edge only ever joins two people, and checking the label read every neighbour's node
# record (1-2 ms of ~10 for the busiest person of the 1M-tie benchmark graph).
STRONGEST_CONTACTS_BOUNDED = (
    """
MATCH (p:Person {tenant: $tenant, email: $email})-[k:KNOWS]-(c)
WITH p, k, c, coalesce(k.bound_key, 1.0e300) AS key ORDER BY key DESC LIMIT $candidates
WITH p, collect({k: k, c: c}) AS taken, min(key) AS cutoff
UNWIND taken AS t
WITH p, t.k AS k, t.c AS c, size(taken) AS candidates, cutoff
WHERE coalesce(c.sends, false) OR COUNT { (c)-[:KNOWS]-() } < $group_min
"""
    + _STRENGTH
    + """
WITH p, c, k, s, candidates, cutoff ORDER BY s DESC, c.email LIMIT $limit
OPTIONAL MATCH (c)-[:WORKS_AT]->(o:Organization)
RETURN collect({email: c.email, name: coalesce(c.name, ''), internal: coalesce(c.internal, false),
                organization: o.domain, tie: properties(k), person_is_a: startNode(k) = p,
                s: s, candidates: candidates, cutoff: cutoff}) AS rows
"""
)

# Our people who know any of the targets: ranked by their strongest tie there, each with how many
# targets they know and their three strongest ties (full properties only for those).
_WHO_KNOWS_TAIL = (
    _STRENGTH
    + """
WITH p, t, k, s ORDER BY s DESC
WITH p, collect({t: t, k: k}) AS known, max(s) AS best
WITH p, best, size(known) AS knows, known[..3] AS via
ORDER BY best DESC, knows DESC, p.email LIMIT $limit
UNWIND via AS v
RETURN collect({email: p.email, name: coalesce(p.name, ''), knows: knows, target: v.t.email,
                target_name: coalesce(v.t.name, ''), tie: properties(v.k), person_is_a: startNode(v.k) = p}) AS rows
"""
)

WHO_KNOWS_PERSON = (
    """
MATCH (t:Person {tenant: $tenant, email: $email})-[k:KNOWS]-(p:Person)
WHERE p.internal
"""
    + _WHO_KNOWS_TAIL
)

WHO_KNOWS_ORGANIZATION = (
    """
MATCH (:Organization {tenant: $tenant, domain: $domain})<-[:WORKS_AT]-(t:Person)-[k:KNOWS]-(p:Person)
WHERE p.internal AND p <> t
"""
    + _WHO_KNOWS_TAIL
)

# An organisation's best-connected members (degree is a constant-time lookup): the targets of a
# path search at a large organisation.
CONNECTED_MEMBERS = """
MATCH (:Organization {tenant: $tenant, domain: $domain})<-[:WORKS_AT]-(m:Person)
WITH m, COUNT { (m)-[:KNOWS]-() } AS degree
ORDER BY degree DESC, m.email LIMIT $limit
RETURN collect(m.email) AS emails
"""

# Ties erased on the topics (a tombstone on tie.updates.v1).
DELETE_TIES = """
UNWIND $rows AS r
MATCH (:Person {tenant: r.tenant, email: r.a})-[k:KNOWS]-(:Person {tenant: r.tenant, email: r.b})
WHERE r.offset IS NULL OR coalesce(k.update_offset, -1) <= r.offset
DELETE k
"""

# Every tie between our people and an organisation's members, as strengths at $now only: an
# account's coverage needs the numbers, not the evidence, so no tie properties cross the wire.
COVERAGE_TIES = (
    """
MATCH (:Organization {tenant: $tenant, domain: $domain})<-[:WORKS_AT]-(t:Person)-[k:KNOWS]-(p:Person)
WHERE p.internal AND p <> t
"""
    + _STRENGTH
    + """
RETURN collect({email: p.email, name: coalesce(p.name, ''), member: t.email, s: s}) AS rows
"""
)
