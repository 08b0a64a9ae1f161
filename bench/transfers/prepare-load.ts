/**
 * What the large transfer needs before it starts, in a worker thread of its
 * own that ends before the transfer's worker begins: the content's SHA-256
 * (CreateTransfer declares it, so the whole content is generated and hashed
 * once beforehand) and the cost of the storage's cryptography per MiB. Done
 * here, the garbage of hashing a gigabyte is gone with this worker, and the
 * transfer's memory is measured from a start it does not inflate.
 */
import { serveWorker } from '../worker-side.js';
import { contentDigest } from './content.js';
import { cryptoMsPerMiB } from './crypto-cost.js';
import { LARGE_SEED, type LargePreparation } from './spec.js';

serveWorker(
  async (spec: { readonly bytes: number }): Promise<LargePreparation> => ({
    sha256: contentDigest(spec.bytes, LARGE_SEED),
    cryptoMsPerMiB: cryptoMsPerMiB(),
  }),
);
