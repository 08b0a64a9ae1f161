/**
 * Prints the app's notices as they come, subscribing again by itself when the
 * stream breaks, and acknowledging each one once printed:
 *
 *   npx tsx sdk/examples/watch.ts [how many, then stop]
 */
import { LgspClient, NoticeKind } from '@lgsp/sdk';

const limit = Number(process.argv[2] ?? Number.POSITIVE_INFINITY);
const client = new LgspClient();
const notices = client.subscribe({
  onReconnect: ({ attempt, error }) =>
    console.error(`stream broken (${error.codeName}), reconnecting, try ${attempt}`),
});
process.once('SIGINT', () => notices.close());
let seen = 0;
try {
  for await (const notice of notices) {
    const about = notice.payload.case === 'newDelivery' ? notice.payload.value.delivery?.subject : '';
    console.log(`${notice.sequence}\t${NoticeKind[notice.kind]}\t${about ?? ''}`);
    if (++seen >= limit) break;
  }
  // Leaving the loop leaves the last notice unacknowledged: it was handled, so say so.
  await notices.ack();
} finally {
  client.close();
}
