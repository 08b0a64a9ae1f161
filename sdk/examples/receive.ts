/**
 * Receives every delivery waiting for this app into a folder: each one is
 * accepted, fetched (inline or streamed), checked against its SHA-256 and
 * confirmed.
 *
 *   npx tsx sdk/examples/receive.ts <folder>
 */
import { join } from 'node:path';
import { LgspClient } from '@lgsp/sdk';

const folder = process.argv[2] ?? '.';
const client = new LgspClient();
try {
  for (const delivery of await client.inbox()) {
    const received = await client.receive(delivery.id, { to: join(folder, `${delivery.id}.bin`) });
    console.log(`${delivery.id}\t${delivery.subject}\t${received.sizeBytes} bytes\t${received.sha256}`);
  }
} finally {
  client.close();
}
