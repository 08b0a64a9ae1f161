#!/usr/bin/env node
/**
 * A webhook receiver for LGSP notices, in plain Node.js (18 or later, no
 * dependencies): what an agency's system does with each call, as
 * docs/notifications.md ("Webhooks") describes.
 *
 *   WEBHOOK_SECRET_FILE=secret.txt PORT=8787 node webhook-receiver.mjs
 *
 * It checks the signature with the secret RegisterWebhook returned (read from
 * WEBHOOK_SECRET, or from WEBHOOK_SECRET_FILE at each call, so the file can be
 * written after the receiver starts), refuses calls older than five minutes,
 * handles each notice id once, and answers 204 so the platform counts the
 * notice as acknowledged. Each notice it accepts is printed as one JSON line;
 * the first line tells the port it listens on (PORT=0 picks a free one).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const MAX_AGE_MS = 5 * 60 * 1000;
const MAX_BODY_BYTES = 1024 * 1024;
const handled = new Set();

function secret() {
  const value = process.env.WEBHOOK_SECRET ?? readFileSync(process.env.WEBHOOK_SECRET_FILE, 'utf8');
  return Buffer.from(value.trim(), 'base64url');
}

/** Whether the call came from the platform: the signature over "<id>.<timestamp>.<body>". */
function verified(headers, body) {
  const id = headers['lgsp-webhook-id'];
  const timestamp = headers['lgsp-webhook-timestamp'];
  const signature = headers['lgsp-webhook-signature'];
  if (!id || !timestamp || !signature) return false;
  const sentAt = Date.parse(timestamp);
  if (Number.isNaN(sentAt) || Math.abs(Date.now() - sentAt) > MAX_AGE_MS) return false;
  const expected = createHmac('sha256', secret()).update(`${id}.${timestamp}.${body}`).digest();
  const given = Buffer.from(signature, 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const server = createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) req.destroy();
    else chunks.push(chunk);
  });
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    if (req.method !== 'POST' || !verified(req.headers, body)) {
      // Not from the platform: refuse without saying more.
      res.writeHead(401).end();
      return;
    }
    const id = req.headers['lgsp-webhook-id'];
    if (!handled.has(id)) {
      handled.add(id);
      // Hand the notice to the system here; answer 2xx only once it is safely kept.
      process.stdout.write(`${JSON.stringify({ verified: true, notice: JSON.parse(body) })}\n`);
    }
    res.writeHead(204).end();
  });
});

server.listen(Number(process.env.PORT ?? 8787), process.env.HOST ?? '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ listening: server.address().port })}\n`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
