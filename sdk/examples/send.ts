/**
 * Sends a file to a unit or an app, with a progress line on stderr:
 *
 *   npx tsx sdk/examples/send.ts <file> <unit code | app id> [subject]
 *
 * Credentials from LGSP_URL, LGSP_ACCESS_KEY_ID, LGSP_SECRET_KEY (an app's key).
 */
import { basename } from 'node:path';
import { LgspClient, TransferState } from '@lgsp/sdk';

const [file, recipient, subject] = process.argv.slice(2);
if (file === undefined || recipient === undefined) {
  console.error('usage: send.ts <file> <unit code | app id> [subject]');
  process.exit(2);
}

const client = new LgspClient();
try {
  const sent = await client.send({
    to: recipient,
    content: file,
    subject: subject ?? basename(file),
    priority: 'urgent',
    onProgress: ({ bytes, totalBytes }) => process.stderr.write(`\rsent ${bytes} of ${totalBytes} bytes`),
  });
  process.stderr.write('\n');
  console.log(
    `${sent.transfer.id}\t${TransferState[sent.transfer.state]}\t${sent.inline ? 'inline' : 'uploaded'}`,
  );
} finally {
  client.close();
}
