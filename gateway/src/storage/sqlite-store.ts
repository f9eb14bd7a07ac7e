// SQLite adapter of the ObjectStore port, for the task records and the pending index of a single
// gateway (TASK_STORE=sqlite): the same keys, ETags and conditional writes as in MinIO, in one
// table of a local file. A record write is then a local transaction of tens of microseconds
// instead of an S3 request that MinIO signs, parses and syncs (docs/BENCHMARKS.md). The images stay
// in MinIO. The file is shared by the gateway's request thread and its reconciler thread (WAL lets
// one write while the other reads); several gateways need a store they all reach: MinIO.
//
// node:sqlite is Node's own binding (no native package to build); its calls are synchronous, which
// suits statements this short. Commits do not wait for a disk sync (synchronous=NORMAL in WAL
// mode): a task the gateway accepted survives the gateway's crash or restart, but an OS crash may
// lose the last moments of writes.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import {
  type ListedObject,
  type ObjectStore,
  type PutOptions,
  StorageUnavailableError,
  type StoredObject,
  WriteConflictError,
} from './object-store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS objects (
  bucket TEXT NOT NULL,
  key TEXT NOT NULL,
  body BLOB NOT NULL,
  etag TEXT NOT NULL,
  modified_ms INTEGER NOT NULL,
  PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS objects_modified ON objects (modified_ms);
`;
const DAY_MS = 24 * 60 * 60_000;
/** How often objects past their retention are deleted (MinIO's lifecycle scan runs about daily). */
const EXPIRY_INTERVAL_MS = 60 * 60_000;

export class SqliteStore implements ObjectStore {
  private readonly db: DatabaseSync;
  private readonly statements: Record<
    'insert' | 'upsert' | 'update' | 'get' | 'exists' | 'remove' | 'list' | 'expire',
    StatementSync
  >;
  private readonly expiryTimer: NodeJS.Timeout | undefined;

  /** With `expireAfterDays`, objects are deleted that many days after their last change, as in MinIO. */
  constructor(file: string, expireAfterDays = 0) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // Loaded here, not imported: Node 22 warns that node:sqlite is experimental when it is loaded,
    // which a gateway without TASK_DB should not print.
    const sqlite = createRequire(import.meta.url)('node:sqlite') as typeof import('node:sqlite');
    this.db = new sqlite.DatabaseSync(file, { timeout: 5_000 });
    this.db.exec('PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;');
    this.db.exec(SCHEMA);
    const sql = (text: string) => this.db.prepare(text);
    this.statements = {
      insert: sql('INSERT INTO objects VALUES (?, ?, ?, ?, ?) ON CONFLICT (bucket, key) DO NOTHING'),
      upsert: sql(
        'INSERT INTO objects VALUES (?, ?, ?, ?, ?) ON CONFLICT (bucket, key) DO UPDATE SET body = excluded.body, etag = excluded.etag, modified_ms = excluded.modified_ms',
      ),
      update: sql(
        'UPDATE objects SET body = ?, etag = ?, modified_ms = ? WHERE bucket = ? AND key = ? AND etag = ?',
      ),
      get: sql('SELECT body, etag FROM objects WHERE bucket = ? AND key = ?'),
      exists: sql('SELECT 1 FROM objects WHERE bucket = ? AND key = ?'),
      remove: sql('DELETE FROM objects WHERE bucket = ? AND key = ?'),
      list: sql(
        'SELECT key, modified_ms FROM objects WHERE bucket = ? AND key >= ? AND key < ? ORDER BY key LIMIT ?',
      ),
      expire: sql('DELETE FROM objects WHERE modified_ms < ?'),
    };
    if (expireAfterDays > 0) {
      const expire = () => this.run(() => this.statements.expire.run(Date.now() - expireAfterDays * DAY_MS));
      expire();
      this.expiryTimer = setInterval(expire, EXPIRY_INTERVAL_MS).unref();
    }
  }

  async ping(): Promise<void> {
    this.run(() => this.db.prepare('SELECT 1').get());
  }

  async put(bucket: string, key: string, body: Buffer, options: PutOptions = {}): Promise<string> {
    const etag = randomUUID();
    const now = Date.now();
    const changes = this.run(() => {
      if (options.ifNoneMatch === '*')
        return this.statements.insert.run(bucket, key, body, etag, now).changes;
      if (options.ifMatch !== undefined)
        return this.statements.update.run(body, etag, now, bucket, key, options.ifMatch).changes;
      return this.statements.upsert.run(bucket, key, body, etag, now).changes;
    });
    if (Number(changes) === 0) throw new WriteConflictError(bucket, key);
    return etag;
  }

  async get(bucket: string, key: string): Promise<StoredObject | undefined> {
    const row = this.run(() => this.statements.get.get(bucket, key)) as
      | { body: Uint8Array; etag: string }
      | undefined;
    if (!row) return undefined;
    return { body: Buffer.from(row.body.buffer, row.body.byteOffset, row.body.byteLength), etag: row.etag };
  }

  async exists(bucket: string, key: string): Promise<boolean> {
    return this.run(() => this.statements.exists.get(bucket, key)) !== undefined;
  }

  async remove(bucket: string, key: string): Promise<void> {
    this.run(() => this.statements.remove.run(bucket, key));
  }

  async removeMany(bucket: string, keys: string[]): Promise<void> {
    this.run(() => {
      this.db.exec('BEGIN');
      try {
        for (const key of keys) this.statements.remove.run(bucket, key);
        this.db.exec('COMMIT');
      } catch (err) {
        this.db.exec('ROLLBACK');
        throw err;
      }
    });
  }

  async list(bucket: string, prefix: string, limit: number): Promise<ListedObject[]> {
    const rows = this.run(() => this.statements.list.all(bucket, prefix, `${prefix}\u{10ffff}`, limit)) as {
      key: string;
      modified_ms: number;
    }[];
    return rows.map((row) => ({ key: row.key, lastModified: new Date(row.modified_ms) }));
  }

  close(): void {
    clearInterval(this.expiryTimer);
    this.db.close();
  }

  /** Runs a statement; a failure of SQLite itself (disk full, locked too long) means storage is down. */
  private run<T>(statement: () => T): T {
    try {
      return statement();
    } catch (err) {
      throw new StorageUnavailableError(`the task database failed: ${(err as Error).message}`);
    }
  }
}
