/**
 * Nonces seen within the replay window, shared by every gateway replica
 * through a NATS KV bucket: the first replica to create the key wins, any
 * later use of the same key and nonce is a replay, wherever it arrives.
 */
import { type Bus, BusConflictError, type KvStore } from '../bus/bus.js';
import { UnavailableError } from '../errors.js';

export interface NonceStore {
  /** True the first time a (key id, nonce) pair is seen within the window; false for a replay. */
  claim(accessKeyId: string, nonce: string): Promise<boolean>;
}

export async function openNonceStore(bus: Bus, prefix: string, windowMs: number): Promise<NonceStore> {
  // Entries must outlive every timestamp still accepted: the skew is allowed on both sides of now.
  const kv: KvStore = await bus.kv({ bucket: `${prefix}_NONCES`, ttlMs: 2 * windowMs + 60_000 });
  return {
    async claim(accessKeyId, nonce) {
      try {
        await kv.create(`${accessKeyId}.${nonce}`, EMPTY);
        return true;
      } catch (error) {
        if (error instanceof BusConflictError) return false;
        // Without the shared store a replay cannot be ruled out: refuse, but as
        // the outage it is, so that clients retry instead of reporting a bug.
        throw new UnavailableError(
          'REPLAY_CHECK_UNAVAILABLE',
          'the replay check is unavailable for a moment (the bus is not reachable); retry the request with a new nonce',
        );
      }
    },
  };
}

const EMPTY = new Uint8Array(0);
