/**
 * The audit log's hash chain (Art. 14.5), as pure functions.
 *
 * An entry's hash is SHA-256 over, in order: the tag `lgsp-audit-v1`, the
 * previous entry's hash (32 bytes; zeros before the first entry), and every
 * field of the entry, each as a 4-byte big-endian length and its UTF-8 bytes
 * (the roles as their count, then each role so). Times are ISO 8601 UTC with
 * milliseconds, the precision the database keeps. Changing, removing or
 * inserting an entry changes the hash every later entry should have.
 */
import { createHash } from 'node:crypto';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import type { AuditEvent } from '#gen/lgsp/common/v1/audit_pb.js';
import { AuditOutcome } from '#gen/lgsp/common/v1/audit_pb.js';
import { CallerKind } from '#gen/lgsp/common/v1/common_pb.js';

export const ZERO_HASH: Uint8Array = new Uint8Array(32);
const TAG = 'lgsp-audit-v1';

/** What is hashed: every column of an audit_log row but the hashes themselves. */
export interface AuditFields {
  readonly seq: number;
  readonly event_id: string;
  readonly occur_time: Date;
  readonly record_time: Date;
  readonly source: string;
  readonly action: string;
  readonly object: string;
  readonly outcome: string;
  readonly reason: string;
  readonly message: string;
  readonly request_id: string;
  readonly trace_id: string;
  readonly client_address: string;
  readonly access_key_id: string;
  readonly actor_kind: string;
  readonly actor_subject: string;
  readonly actor_app_id: string;
  readonly actor_unit_code: string;
  readonly actor_roles: readonly string[];
}

export interface ChainedFields extends AuditFields {
  readonly prev_hash: Uint8Array;
  readonly hash: Uint8Array;
}

/** The event's fields as they are stored, without its place in the chain. */
export type AuditEventFields = Omit<AuditFields, 'seq' | 'record_time'>;

/** Longest text kept per field; longer values are cut (a message is never content). */
const LIMITS = { message: 1000, default: 256 } as const;

function clean(value: string, max: number = LIMITS.default): string {
  // Postgres text cannot hold NUL.
  return value.replaceAll(String.fromCharCode(0), '').slice(0, max);
}

/** The stored form of a published event; the occur time is cut to milliseconds. */
export function fieldsOf(event: AuditEvent, fallbackId: string): AuditEventFields {
  const actor = event.actor;
  const occur = event.occurTime === undefined ? new Date(0) : timestampDate(event.occurTime);
  return {
    event_id: clean(event.id) || fallbackId,
    occur_time: new Date(Math.floor(occur.getTime())),
    source: clean(event.source),
    action: clean(event.action),
    object: clean(event.object),
    outcome: AuditOutcome[event.outcome] ?? String(event.outcome),
    reason: clean(event.reason),
    message: clean(event.message, LIMITS.message),
    request_id: clean(event.requestId),
    trace_id: clean(event.traceId),
    client_address: clean(event.clientAddress),
    access_key_id: clean(event.accessKeyId),
    actor_kind: CallerKind[actor?.kind ?? CallerKind.UNSPECIFIED] ?? String(actor?.kind),
    actor_subject: clean(actor?.subject ?? ''),
    actor_app_id: clean(actor?.appId ?? ''),
    actor_unit_code: clean(actor?.unitCode ?? ''),
    actor_roles: (actor?.roles ?? []).slice(0, 16).map((r) => clean(r)),
  };
}

function lengthPrefixed(value: string): Buffer[] {
  const bytes = Buffer.from(value, 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return [length, bytes];
}

/** The canonical bytes of an entry's fields (without the previous hash). */
export function canonicalEncoding(f: AuditFields): Buffer {
  const texts = [
    String(f.seq),
    f.event_id,
    f.occur_time.toISOString(),
    f.record_time.toISOString(),
    f.source,
    f.action,
    f.object,
    f.outcome,
    f.reason,
    f.message,
    f.request_id,
    f.trace_id,
    f.client_address,
    f.access_key_id,
    f.actor_kind,
    f.actor_subject,
    f.actor_app_id,
    f.actor_unit_code,
    String(f.actor_roles.length),
    ...f.actor_roles,
  ];
  return Buffer.concat([Buffer.from(TAG, 'utf8'), ...texts.flatMap(lengthPrefixed)]);
}

export function entryHash(previous: Uint8Array, fields: AuditFields): Uint8Array {
  return new Uint8Array(createHash('sha256').update(previous).update(canonicalEncoding(fields)).digest());
}

export type ChainProblem =
  | 'HASH_MISMATCH'
  | 'PREVIOUS_HASH_MISMATCH'
  | 'MISSING_ENTRY'
  | 'MISSING_TAIL'
  | 'HEAD_MISMATCH';

export interface ChainBreak {
  readonly seq: number;
  readonly eventId: string;
  readonly problem: ChainProblem;
  readonly message: string;
}

/**
 * Walks entries in sequence order, page by page, from the anchor. Feed it
 * with `check`, then call `finish` with the head the database records.
 */
export class ChainWalker {
  #expectedSeq: number;
  #previous: Uint8Array;
  #checked = 0;
  #break: ChainBreak | undefined;

  constructor(anchorSeq: number, anchorHash: Uint8Array) {
    this.#expectedSeq = anchorSeq + 1;
    this.#previous = anchorHash;
  }

  get checked(): number {
    return this.#checked;
  }

  get broken(): ChainBreak | undefined {
    return this.#break;
  }

  /** Checks one entry; returns false once the chain is broken (stop walking). */
  check(row: ChainedFields): boolean {
    if (this.#break !== undefined) return false;
    if (row.seq !== this.#expectedSeq) {
      this.#break = {
        seq: this.#expectedSeq,
        eventId: '',
        problem: 'MISSING_ENTRY',
        message: `entry ${this.#expectedSeq} is missing: the next entry kept is ${row.seq}`,
      };
      return false;
    }
    this.#checked++;
    if (!sameBytes(entryHash(row.prev_hash, row), row.hash)) {
      this.#break = {
        seq: row.seq,
        eventId: row.event_id,
        problem: 'HASH_MISMATCH',
        message: `entry ${row.seq} (${row.event_id}) was changed: its hash does not match its fields`,
      };
      return false;
    }
    if (!sameBytes(row.prev_hash, this.#previous)) {
      this.#break = {
        seq: row.seq,
        eventId: row.event_id,
        problem: 'PREVIOUS_HASH_MISMATCH',
        message: `entry ${row.seq} (${row.event_id}) does not follow the entry before it in the chain`,
      };
      return false;
    }
    this.#expectedSeq = row.seq + 1;
    this.#previous = row.hash;
    return true;
  }

  /** Compares where the walk ended with the head the chain row records. */
  finish(headSeq: number, headHash: Uint8Array): ChainBreak | undefined {
    if (this.#break !== undefined) return this.#break;
    const last = this.#expectedSeq - 1;
    if (last < headSeq) {
      this.#break = {
        seq: last + 1,
        eventId: '',
        problem: 'MISSING_TAIL',
        message: `entries ${last + 1} to ${headSeq} are missing: the log ends at ${last}`,
      };
    } else if (last > headSeq || (headSeq > 0 && !sameBytes(this.#previous, headHash))) {
      this.#break = {
        seq: last,
        eventId: '',
        problem: 'HEAD_MISMATCH',
        message: `the recorded head (entry ${headSeq}) is not the last entry of the chain (${last})`,
      };
    }
    return this.#break;
  }
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}
