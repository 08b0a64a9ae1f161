/**
 * Key material of access keys, cached so that verifying a signature needs no
 * network round trip in the common case. Entries live for the TTL the auth
 * service sets; a revocation or rotation broadcast drops an entry on every
 * replica at once. Unknown keys are cached briefly too, so a flood of made-up
 * key ids cannot hammer the auth service.
 */

import { durationMs } from '@bufbuild/protobuf/wkt';
import type { Client } from '@connectrpc/connect';
import type { AuthService } from '#gen/lgsp/auth/v1/auth_service_pb.js';
import type { KeyMaterial, Refusal } from '#gen/lgsp/auth/v1/resources_pb.js';

export type KeyLookup = { readonly material: KeyMaterial } | { readonly refusal: Refusal };

interface Entry {
  readonly value: Promise<KeyLookup>;
  expiresAt: number;
}

const DEFAULT_TTL_MS = 60_000;
const DEFAULT_NEGATIVE_TTL_MS = 5_000;
const MAX_ENTRIES = 50_000;

export class KeyCache {
  readonly #entries = new Map<string, Entry>();
  readonly #auth: Client<typeof AuthService>;
  readonly #headers: Headers;

  constructor(auth: Client<typeof AuthService>, serviceHeaders: Headers) {
    this.#auth = auth;
    this.#headers = serviceHeaders;
  }

  get(accessKeyId: string): Promise<KeyLookup> {
    const now = Date.now();
    const hit = this.#entries.get(accessKeyId);
    if (hit !== undefined && hit.expiresAt > now) return hit.value;
    if (this.#entries.size >= MAX_ENTRIES) this.#evictExpired(now);
    const loading = this.#load(accessKeyId);
    const entry: Entry = { value: loading, expiresAt: now + DEFAULT_TTL_MS };
    this.#entries.set(accessKeyId, entry);
    loading.then(
      (loaded) => {
        entry.expiresAt = Date.now() + ('material' in loaded ? loaded.ttlMs : loaded.negativeTtlMs);
      },
      // A failed lookup (auth service down) is not cached: the next request tries again.
      () => this.#entries.delete(accessKeyId),
    );
    return loading;
  }

  invalidate(accessKeyId: string): void {
    this.#entries.delete(accessKeyId);
  }

  clear(): void {
    this.#entries.clear();
  }

  async #load(
    accessKeyId: string,
  ): Promise<KeyLookup & { readonly ttlMs: number; readonly negativeTtlMs: number }> {
    const res = await this.#auth.getKeyMaterial(
      { accessKeyId },
      { headers: this.#headers, timeoutMs: 5_000 },
    );
    const ttlMs = res.cacheTtl === undefined ? DEFAULT_TTL_MS : durationMs(res.cacheTtl);
    const negativeTtlMs =
      res.negativeCacheTtl === undefined ? DEFAULT_NEGATIVE_TTL_MS : durationMs(res.negativeCacheTtl);
    if (res.outcome.case === 'material') return { material: res.outcome.value, ttlMs, negativeTtlMs };
    if (res.outcome.case === 'refusal') return { refusal: res.outcome.value, ttlMs, negativeTtlMs };
    throw new Error('the auth service answered neither key material nor a refusal');
  }

  #evictExpired(now: number): void {
    for (const [key, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(key);
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.clear();
  }
}
