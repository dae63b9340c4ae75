/**
 * The PostgreSQL store's schema, as versioned migrations (docs/spec/storage.md §5). Each
 * entry brings a region's schema from version `index` to `index + 1`; they run in order,
 * once each, at start, in one transaction under the region's write lock
 * (postgres-storage.ts, `migrate`). Never edit a released entry: append a new one.
 *
 * The tables mirror SQLite's (sqlite-storage.ts). Records that have no column of their own
 * are JSON in a `text` column, not `jsonb`: jsonb refuses the escaped NUL (`\u0000`) that a
 * key description may hold, and text keeps the JSON exactly as written. Key tokens and
 * message bodies are `bytea`. Times are epoch milliseconds in `bigint`, as the records
 * carry them, except lease expiries, which are the database's own `timestamptz`: only the
 * database's clock decides who holds a lease.
 *
 * @module
 */

/** One migration: the SQL for a region's schema, given as a quoted identifier. */
export type Migration = (schema: string) => string

export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  // 1: the region's records, the change log and its head, leases.
  (s) => `
CREATE TABLE ${s}.keys (
  key_id   text PRIMARY KEY,
  sequence bigint NOT NULL,
  record   text NOT NULL
);
CREATE TABLE ${s}.key_materials (
  key_id      text NOT NULL,
  version     integer NOT NULL,
  material_id text NOT NULL,
  created_at  bigint NOT NULL,
  rotation    text,
  token       bytea NOT NULL,
  PRIMARY KEY (key_id, version)
);
CREATE TABLE ${s}.aliases (
  alias_name text PRIMARY KEY,
  key_id     text NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);
CREATE TABLE ${s}.grants (
  grant_id text PRIMARY KEY,
  -- insertion order, which load() keeps
  seq      bigint GENERATED ALWAYS AS IDENTITY,
  key_id   text NOT NULL,
  record   text NOT NULL
);
CREATE INDEX grants_by_key ON ${s}.grants (key_id);
CREATE TABLE ${s}.replication_sessions (
  session_id text PRIMARY KEY,
  record     text NOT NULL
);
CREATE TABLE ${s}.answered_sessions (
  session_id text PRIMARY KEY,
  key_id     text NOT NULL,
  to_region  text NOT NULL,
  expires_at bigint NOT NULL,
  body       bytea NOT NULL
);
CREATE TABLE ${s}.outbox (
  id         text PRIMARY KEY,
  -- queue order, which load() keeps
  seq        bigint GENERATED ALWAYS AS IDENTITY,
  to_region  text NOT NULL,
  expires_at bigint NOT NULL,
  body       bytea NOT NULL
);
CREATE TABLE ${s}.tombstones (
  key_id text PRIMARY KEY,
  record text NOT NULL
);
-- The change log. Positions come from change_head, updated in the committing transaction,
-- not from a sequence: a sequence would leave a gap for every rolled-back commit.
CREATE TABLE ${s}.changes (
  position bigint PRIMARY KEY,
  writes   text NOT NULL
);
CREATE TABLE ${s}.change_head (
  id       integer PRIMARY KEY CHECK (id = 1),
  position bigint NOT NULL
);
INSERT INTO ${s}.change_head (id, position) VALUES (1, 0);
CREATE TABLE ${s}.leases (
  name       text PRIMARY KEY,
  holder     text NOT NULL,
  expires_at timestamptz NOT NULL
);
`,
  // 2: the change log's chain digests (storage.ts chainDigest); NULL for changes logged before.
  (s) => `
ALTER TABLE ${s}.changes ADD COLUMN digest text;
ALTER TABLE ${s}.change_head ADD COLUMN digest text;
`,
]
