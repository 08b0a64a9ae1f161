/**
 * What the servers did per transfer, counted on the main thread where the
 * mesh runs, without changing a line of it: the bench wraps, for its own
 * process only, the methods every statement and every message goes through.
 *
 * - SQL: `pg.Client.prototype.query` (a real PostgreSQL; kysely's driver calls
 *   it for every statement, transaction control included) and PGlite's
 *   `query` (the embedded database). Each statement is attributed to the
 *   service whose schema it names first (kysely qualifies every table with
 *   it) and timed from call to answer. With PGlite, the leases of its single
 *   session (lib/db/pglite-pool.ts) are timed too: how long the database was
 *   held, and how long callers queued for it.
 * - Bus: the mesh's `bus.publish` (outbox relays and audit events go through it).
 *
 * The wrappers cost a `performance.now()` and a regular expression per
 * statement, far below what a statement costs.
 */
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import type { Bus } from '#lib/bus/bus.js';
import { PglitePool } from '#lib/db/pglite-pool.js';
import { SERVICES } from '../mesh.js';

export interface SqlCounts {
  readonly statements: number;
  /** Milliseconds from each statement's call to its answer, summed. */
  readonly statementMs: number;
  /** `begin` statements: transactions. */
  readonly transactions: number;
  /** Statements by the service whose schema they name (`other` when none, e.g. `begin`). */
  readonly byService: Readonly<Record<string, number>>;
  /** With PGlite: milliseconds its single session was leased, and callers waited for a lease. */
  readonly leaseHeldMs: number;
  readonly leaseWaitMs: number;
}

export interface BusCounts {
  readonly published: number;
  readonly bytes: number;
  /** Messages by the first two subject tokens after the prefix (`transfer.offered`, `audit.transfer`…). */
  readonly bySubject: Readonly<Record<string, number>>;
}

class Tally {
  count = 0;
  ms = 0;
  transactions = 0;
  leaseHeldMs = 0;
  leaseWaitMs = 0;
  readonly by = new Map<string, number>();

  add(key: string, n = 1): void {
    this.by.set(key, (this.by.get(key) ?? 0) + n);
  }
}

const sql = new Tally();
const bus = new Tally();
let busBytes = 0;
let installed = false;
/** Schema names look like `<prefix><service>`; the prefix is stripped to name the service. */
let schemaPrefix = '';

/** Quoted names followed by a dot: schemas (kysely qualifies every table), but also table aliases. */
const QUALIFIER = /"([A-Za-z0-9_]+)"\./g;
const SERVICE_NAMES = new Set<string>(SERVICES);

/** The service whose schema the statement names first: `other` for none (transaction control). */
function serviceOf(statement: string): string {
  for (const match of statement.matchAll(QUALIFIER)) {
    const name = match[1]!;
    if (!name.startsWith(schemaPrefix)) continue;
    const service = name.slice(schemaPrefix.length);
    if (SERVICE_NAMES.has(service)) return service;
  }
  return 'other';
}

function countStatement(text: unknown): void {
  const statement = typeof text === 'string' ? text : ((text as { text?: string } | null)?.text ?? '');
  sql.count++;
  if (/^\s*begin\b/i.test(statement)) sql.transactions++;
  sql.add(serviceOf(statement));
}

/** Times a call's promise, if it returns one, into the statement time. */
function timed<T>(started: number, result: T): T {
  if (result instanceof Promise) {
    result.then(
      () => {
        sql.ms += performance.now() - started;
      },
      () => {
        sql.ms += performance.now() - started;
      },
    );
  }
  return result;
}

/** Wraps the database and bus entry points of this process; idempotent. */
export function installProbes(meshBus: Bus, prefix: string): void {
  schemaPrefix = prefix;
  wrapBus(meshBus);
  if (installed) return;
  installed = true;

  const pgQuery = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    countStatement(args[0]);
    return timed(performance.now(), pgQuery.apply(this, args));
  } as typeof pg.Client.prototype.query;

  const owner = ownerOf(PGlite.prototype, 'query');
  const pgliteQuery = owner.query as (...args: unknown[]) => unknown;
  owner.query = function (this: unknown, ...args: unknown[]) {
    countStatement(args[0]);
    return timed(performance.now(), pgliteQuery.apply(this, args));
  };

  const connect = PglitePool.prototype.connect;
  PglitePool.prototype.connect = async function (this: PglitePool) {
    const asked = performance.now();
    const lease = await connect.call(this);
    const leased = performance.now();
    sql.leaseWaitMs += leased - asked;
    const release = lease.release;
    let released = false;
    return {
      query: lease.query,
      release: () => {
        if (!released) sql.leaseHeldMs += performance.now() - leased;
        released = true;
        release();
      },
    };
  };
}

function wrapBus(meshBus: Bus): void {
  const publish = meshBus.publish.bind(meshBus);
  meshBus.publish = (subject, data, options) => {
    bus.count++;
    busBytes += data.length;
    // The bus prefix is one token (`BENCH`, `BENCH_<RUN>_T`): what follows names the message.
    bus.add(subject.split('.').slice(1, 3).join('.'));
    return publish(subject, data, options);
  };
}

function ownerOf(prototype: object, method: string): Record<string, unknown> {
  for (let p: object | null = prototype; p !== null; p = Object.getPrototypeOf(p)) {
    if (Object.hasOwn(p, method)) return p as Record<string, unknown>;
  }
  throw new Error(`no ${method} on the prototype chain`);
}

export function sqlCounts(): SqlCounts {
  return {
    statements: sql.count,
    statementMs: sql.ms,
    transactions: sql.transactions,
    byService: Object.fromEntries(sql.by),
    leaseHeldMs: sql.leaseHeldMs,
    leaseWaitMs: sql.leaseWaitMs,
  };
}

export function busCounts(): BusCounts {
  return { published: bus.count, bytes: busBytes, bySubject: Object.fromEntries(bus.by) };
}

/** What was counted between two readings. */
export function sqlDelta(before: SqlCounts, after: SqlCounts): SqlCounts {
  return {
    statements: after.statements - before.statements,
    statementMs: after.statementMs - before.statementMs,
    transactions: after.transactions - before.transactions,
    byService: deltaOf(before.byService, after.byService),
    leaseHeldMs: after.leaseHeldMs - before.leaseHeldMs,
    leaseWaitMs: after.leaseWaitMs - before.leaseWaitMs,
  };
}

export function busDelta(before: BusCounts, after: BusCounts): BusCounts {
  return {
    published: after.published - before.published,
    bytes: after.bytes - before.bytes,
    bySubject: deltaOf(before.bySubject, after.bySubject),
  };
}

function deltaOf(
  before: Readonly<Record<string, number>>,
  after: Readonly<Record<string, number>>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(after)) {
    const delta = value - (before[key] ?? 0);
    if (delta !== 0) out[key] = delta;
  }
  return out;
}
