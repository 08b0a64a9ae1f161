/** The blob store contract on the NATS JetStream Object Store, in a bucket of its own, deleted afterwards. */

import { TEST_NATS_URL, uniqueName } from '../../../test/support/env.js';
import { destroyNatsBucket, openNatsBlobStore } from '../src/blobs/nats-object-store.js';
import { blobStoreContract } from './blob-store.contract.js';

blobStoreContract('nats', async () => {
  const bucket = `${uniqueName('T').toUpperCase()}_BLOBS`;
  const store = await openNatsBlobStore({ servers: TEST_NATS_URL, bucket });
  return { store, cleanup: () => destroyNatsBucket(TEST_NATS_URL, bucket) };
});
