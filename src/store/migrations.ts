// The SQLite log's schema, as a list of versioned migrations (docs/storage.md
// "Schema"). The version lives in the file's header (`PRAGMA user_version`), so
// a database says which schema it has without a table of its own.
//
// To change the schema, append a migration with the next version; never edit
// one that has shipped, since databases out there already ran it.
import type { Database } from 'better-sqlite3';

export interface Migration {
  version: number;
  /** What it changes and why: read by people, not code. */
  why: string;
  up(db: Database): void;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    why: 'rooms (Seq and Epoch per room) and messages',
    up(db) {
      // Plain CREATE, not IF NOT EXISTS: a migration that ran twice is a bug to hear about.
      db.exec(`
        CREATE TABLE rooms (
          id       INTEGER PRIMARY KEY,
          name     TEXT    NOT NULL UNIQUE,
          epoch    TEXT    NOT NULL,
          last_seq INTEGER NOT NULL DEFAULT 0
        );
        -- A rowid table: rows go in at the end of the file, in commit order, and only
        -- the narrow (room_id, seq) index is written at a room's place. A WITHOUT ROWID
        -- table keyed by (room, seq) cost twice as much per append (TOOLCHAIN.md).
        -- No foreign key on room_id: rooms are never deleted, and checking one costs
        -- a lookup per append.
        CREATE TABLE messages (
          room_id INTEGER NOT NULL,
          seq     INTEGER NOT NULL,
          at      INTEGER NOT NULL,
          key     TEXT,
          msg_id  TEXT    NOT NULL,
          from_id TEXT    NOT NULL,
          name    TEXT    NOT NULL,
          content TEXT    NOT NULL
        );
        CREATE UNIQUE INDEX messages_room_seq ON messages (room_id, seq);
        -- Dedupe of client keys: only keyed lines pay for this index.
        CREATE UNIQUE INDEX messages_room_key ON messages (room_id, key) WHERE key IS NOT NULL;
      `);
    },
  },
  {
    version: 2,
    why: 'a client key is its sender\'s: dedupe on (room, sender, key), so one client cannot reuse another\'s key',
    up(db) {
      db.exec(`
        DROP INDEX messages_room_key;
        CREATE UNIQUE INDEX messages_room_from_key ON messages (room_id, from_id, key) WHERE key IS NOT NULL;
      `);
    },
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

export function schemaVersion(db: Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Brings `db` up to the last migration, each in its own write transaction with
 * the version it sets, so a crash between two leaves a consistent database at
 * the earlier one. The version is read again under the write lock: a second
 * process opening the same file at the same time waits (busy_timeout) and then
 * finds the work done. Returns the versions before and after.
 *
 * Even when nothing is pending it writes the version once, so a database that
 * can be opened but not written (a read-only file or filesystem) fails here, at
 * start, instead of at the first append.
 */
export function migrate(db: Database, migrations: readonly Migration[] = MIGRATIONS): { from: number; to: number } {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migrations must be numbered 1, 2, 3...: #${i} is version ${m.version}`);
  });
  const latest = migrations.length;
  const from = schemaVersion(db);
  if (from > latest) {
    throw new Error(`the database has schema version ${from}, newer than this server knows (${latest}): run a newer rxchat`);
  }
  for (const m of migrations.slice(from)) {
    db.transaction(() => {
      if (schemaVersion(db) >= m.version) return; // another process got here first
      m.up(db);
      // An integer we made, so interpolating it is safe (PRAGMA takes no parameters).
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
  db.transaction(() => db.pragma(`user_version = ${schemaVersion(db)}`)).immediate();
  return { from, to: schemaVersion(db) };
}
