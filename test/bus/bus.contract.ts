/**
 * The contract both bus adapters pass, so that a service cannot tell them
 * apart. Every test names its streams, durables and buckets with a random
 * suffix: suites run in parallel against one shared nats-server.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Bus, BusConflictError, type BusMessage, type KvChange } from '#lib/bus/bus.js';

/** What a test created on the broker, for the adapter to delete afterwards. */
export interface CreatedResources {
  readonly streams: readonly string[];
  readonly buckets: readonly string[];
}

export interface ContractOptions {
  /**
   * True when two buses from `makeBus` reach the same broker, as two processes
   * would; the in-process bus shares nothing, so its tests use one bus twice.
   */
  readonly sharedBroker?: boolean;
  /** Deletes what the test created; the port has no delete, so the adapter's test supplies it. */
  readonly cleanup?: (created: CreatedResources) => Promise<void>;
}

const TEST_TIMEOUT_MS = 20_000;

const enc = new TextEncoder();
const dec = new TextDecoder();
const text = (s: string): Uint8Array => enc.encode(s);
const str = (b: Uint8Array): string => dec.decode(b);

let counter = 0;
function uid(): string {
  counter++;
  return `${Math.random().toString(36).slice(2, 10)}${counter}`;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A promise with its resolver, to hold a handler open until the test lets go. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

const POLL = { timeout: 10_000, interval: 20 } as const;

export function busContract(name: string, makeBus: () => Promise<Bus>, options: ContractOptions = {}): void {
  describe(`bus contract: ${name}`, () => {
    let buses: Bus[] = [];
    let streams: string[] = [];
    let buckets: string[] = [];

    afterEach(async () => {
      const open = buses;
      buses = [];
      await Promise.all(open.map((b) => b.close()));
      const created = { streams, buckets };
      streams = [];
      buckets = [];
      await options.cleanup?.(created);
    });

    async function bus(): Promise<Bus> {
      const b = await makeBus();
      buses.push(b);
      return b;
    }

    /** A fresh stream capturing `<prefix>.>`. */
    async function stream(
      b: Bus,
      extra: { maxAgeMs?: number } = {},
    ): Promise<{ name: string; prefix: string }> {
      const id = uid();
      const streamName = `T_${id}`;
      const prefix = `t.${id}`;
      streams.push(streamName);
      await b.ensureStream({ name: streamName, subjects: [`${prefix}.>`], ...extra });
      return { name: streamName, prefix };
    }

    function bucketName(): string {
      const n = `t_${uid()}`;
      buckets.push(n);
      return n;
    }

    it('reports its kind', async () => {
      const b = await bus();
      expect(b.kind).toBe(name);
    });

    it(
      'ensureStream is idempotent and can add subjects',
      async () => {
        const b = await bus();
        const s = await stream(b);
        await b.ensureStream({ name: s.name, subjects: [`${s.prefix}.>`] });
        await expect(b.publish(`other${s.prefix}.x`, text('x'))).rejects.toThrow();
        await b.ensureStream({ name: s.name, subjects: [`${s.prefix}.>`, `other${s.prefix}.>`] });
        const ack = await b.publish(`other${s.prefix}.x`, text('x'));
        expect(ack).toEqual({ seq: 1, duplicate: false });
      },
      TEST_TIMEOUT_MS,
    );

    it('rejects a publish no stream captures', async () => {
      const b = await bus();
      await expect(b.publish(`nostream.${uid()}.x`, text('x'))).rejects.toThrow();
    });

    it(
      'publishes and consumes a message with its headers',
      async () => {
        const b = await bus();
        const s = await stream(b);
        const got: BusMessage[] = [];
        await b.consume({ stream: s.name, durable: `d_${uid()}` }, async (m) => {
          got.push(m);
        });
        const headers = {
          traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
          'x-event-type': 'transfer.created',
        };
        const ack = await b.publish(`${s.prefix}.created`, text('hello'), { headers, msgId: uid() });
        expect(ack.duplicate).toBe(false);
        expect(ack.seq).toBe(1);
        await expect.poll(() => got.length, POLL).toBe(1);
        const m = got[0]!;
        expect(m.subject).toBe(`${s.prefix}.created`);
        expect(str(m.data)).toBe('hello');
        expect(m.headers).toEqual(headers);
        expect(m.seq).toBe(ack.seq);
        expect(m.deliveryCount).toBe(1);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'drops a repeated msgId inside the duplicate window',
      async () => {
        const b = await bus();
        const s = await stream(b);
        const id = uid();
        const first = await b.publish(`${s.prefix}.e`, text('one'), { msgId: id });
        const second = await b.publish(`${s.prefix}.e`, text('two'), { msgId: id });
        expect(first.duplicate).toBe(false);
        expect(second.duplicate).toBe(true);
        expect(second.seq).toBe(first.seq);
        const marker = await b.publish(`${s.prefix}.e`, text('marker'), { msgId: uid() });
        expect(marker.duplicate).toBe(false);

        const got: string[] = [];
        await b.consume({ stream: s.name, durable: `d_${uid()}` }, async (m) => {
          got.push(str(m.data));
        });
        // In-order delivery: once the marker is in, a stored duplicate would have come before it.
        await expect.poll(() => got.includes('marker'), POLL).toBe(true);
        expect(got).toEqual(['one', 'marker']);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'redelivers after a throwing handler with a growing delivery count',
      async () => {
        const b = await bus();
        const s = await stream(b);
        const seen: { seq: number; deliveryCount: number }[] = [];
        let handled = false;
        await b.consume({ stream: s.name, durable: `d_${uid()}`, ackWaitMs: 5_000 }, async (m) => {
          seen.push({ seq: m.seq, deliveryCount: m.deliveryCount });
          if (m.deliveryCount < 3) throw new Error('transient failure');
          handled = true;
        });
        const ack = await b.publish(`${s.prefix}.r`, text('retry me'));
        await expect.poll(() => handled, POLL).toBe(true);
        expect(seen).toEqual([
          { seq: ack.seq, deliveryCount: 1 },
          { seq: ack.seq, deliveryCount: 2 },
          { seq: ack.seq, deliveryCount: 3 },
        ]);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'redelivers a message not acked within the ack wait',
      async () => {
        const b = await bus();
        const s = await stream(b);
        const counts: number[] = [];
        const first = gate();
        await b.consume(
          { stream: s.name, durable: `d_${uid()}`, ackWaitMs: 500 },
          async (m) => {
            counts.push(m.deliveryCount);
            // The first delivery hangs past its ack wait; the second comes while it is still running.
            if (m.deliveryCount === 1) await first.promise;
          },
          { concurrency: 2 },
        );
        await b.publish(`${s.prefix}.slow`, text('slow'));
        await expect.poll(() => counts, POLL).toEqual([1, 2]);
        first.open();
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'gives a message up after maxDeliver deliveries',
      async () => {
        const b = await bus();
        const s = await stream(b);
        let attempts = 0;
        const good: string[] = [];
        await b.consume(
          { stream: s.name, durable: `d_${uid()}`, maxDeliver: 2, ackWaitMs: 1_000 },
          async (m) => {
            if (str(m.data) === 'poison') {
              attempts++;
              throw new Error('always fails');
            }
            good.push(str(m.data));
          },
        );
        await b.publish(`${s.prefix}.p`, text('poison'));
        await b.publish(`${s.prefix}.p`, text('fine'));
        await expect.poll(() => attempts, POLL).toBe(2);
        await expect.poll(() => good, POLL).toEqual(['fine']);
        // A third delivery would come after 200 ms of backoff or 1 s of ack wait.
        await sleep(1_500);
        expect(attempts).toBe(2);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'shares a durable between consumers without handling a message twice',
      async () => {
        const b1 = await bus();
        const b2 = options.sharedBroker === true ? await bus() : b1;
        const s = await stream(b1);
        const durable = `d_${uid()}`;
        const handledBy = new Map<number, string[]>();
        const record = (who: string) => async (m: BusMessage) => {
          handledBy.set(m.seq, [...(handledBy.get(m.seq) ?? []), who]);
          await sleep(10);
        };
        const sub1 = await b1.consume({ stream: s.name, durable }, record('one'));
        const sub2 = await b2.consume({ stream: s.name, durable }, record('two'));
        const total = 30;
        for (let i = 0; i < total; i++) await b1.publish(`${s.prefix}.w`, text(String(i)));
        await expect.poll(() => handledBy.size, POLL).toBe(total);
        await Promise.all([sub1.stop(), sub2.stop()]);
        const all = [...handledBy.values()];
        expect(all.every((who) => who.length === 1)).toBe(true);
        expect(all.filter((who) => who[0] === 'one').length).toBeGreaterThan(0);
        expect(all.filter((who) => who[0] === 'two').length).toBeGreaterThan(0);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'resumes a durable where it left off',
      async () => {
        const b = await bus();
        const s = await stream(b);
        const durable = `d_${uid()}`;
        const firstRun: number[] = [];
        const sub = await b.consume({ stream: s.name, durable }, async (m) => {
          firstRun.push(m.seq);
        });
        for (let i = 0; i < 3; i++) await b.publish(`${s.prefix}.x`, text(String(i)));
        await expect.poll(() => firstRun, POLL).toEqual([1, 2, 3]);
        await sub.stop();

        for (let i = 3; i < 5; i++) await b.publish(`${s.prefix}.x`, text(String(i)));
        const secondRun: BusMessage[] = [];
        await b.consume({ stream: s.name, durable }, async (m) => {
          secondRun.push(m);
        });
        await expect.poll(() => secondRun.length, POLL).toBe(2);
        await sleep(300);
        expect(secondRun.map((m) => [m.seq, m.deliveryCount])).toEqual([
          [4, 1],
          [5, 1],
        ]);
        expect(firstRun).toEqual([1, 2, 3]);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "starts a new durable at the end of the stream with deliverFrom 'new'",
      async () => {
        const b = await bus();
        const s = await stream(b);
        await b.publish(`${s.prefix}.n`, text('old-1'));
        await b.publish(`${s.prefix}.n`, text('old-2'));
        const got: string[] = [];
        await b.consume({ stream: s.name, durable: `d_${uid()}`, deliverFrom: 'new' }, async (m) => {
          got.push(str(m.data));
        });
        await b.publish(`${s.prefix}.n`, text('new-1'));
        await expect.poll(() => got, POLL).toEqual(['new-1']);

        const all: string[] = [];
        await b.consume({ stream: s.name, durable: `d_${uid()}` }, async (m) => {
          all.push(str(m.data));
        });
        await expect.poll(() => all, POLL).toEqual(['old-1', 'old-2', 'new-1']);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'delivers only the subjects a consumer filters on',
      async () => {
        const b = await bus();
        const s = await stream(b);
        const one: string[] = [];
        const several: string[] = [];
        await b.consume(
          { stream: s.name, durable: `d_${uid()}`, filterSubjects: [`${s.prefix}.a.*`] },
          async (m) => {
            one.push(m.subject);
          },
        );
        await b.consume(
          { stream: s.name, durable: `d_${uid()}`, filterSubjects: [`${s.prefix}.a.*`, `${s.prefix}.c.>`] },
          async (m) => {
            several.push(m.subject);
          },
        );
        for (const sub of ['a.1', 'b.1', 'c.1.x', 'a.2']) await b.publish(`${s.prefix}.${sub}`, text(sub));
        // In-order delivery: the last message arriving means nothing before it is still to come.
        await expect.poll(() => one, POLL).toEqual([`${s.prefix}.a.1`, `${s.prefix}.a.2`]);
        await expect
          .poll(() => several, POLL)
          .toEqual([`${s.prefix}.a.1`, `${s.prefix}.c.1.x`, `${s.prefix}.a.2`]);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'runs up to `concurrency` handlers at once and no more',
      async () => {
        const b = await bus();
        const s = await stream(b);
        const release = gate();
        let active = 0;
        let maxActive = 0;
        let done = 0;
        await b.consume(
          { stream: s.name, durable: `d_${uid()}` },
          async () => {
            active++;
            maxActive = Math.max(maxActive, active);
            await release.promise;
            active--;
            done++;
          },
          { concurrency: 4 },
        );
        for (let i = 0; i < 6; i++) await b.publish(`${s.prefix}.c`, text(String(i)));
        await expect.poll(() => active, POLL).toBe(4);
        await sleep(200);
        expect(maxActive).toBe(4);
        release.open();
        await expect.poll(() => done, POLL).toBe(6);
        expect(maxActive).toBe(4);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'stop() waits for the handler in flight',
      async () => {
        const b = await bus();
        const s = await stream(b);
        const release = gate();
        let started = false;
        let finished = false;
        const durable = `d_${uid()}`;
        const sub = await b.consume({ stream: s.name, durable }, async () => {
          started = true;
          await release.promise;
          await sleep(20);
          finished = true;
        });
        await b.publish(`${s.prefix}.s`, text('x'));
        await expect.poll(() => started, POLL).toBe(true);
        let stopped = false;
        const stopping = sub.stop().then(() => {
          stopped = true;
        });
        await sleep(150);
        expect(stopped).toBe(false);
        release.open();
        await stopping;
        expect(finished).toBe(true);

        // Handled before stop() returned, so acked: a restart does not see it again.
        const again: number[] = [];
        await b.consume({ stream: s.name, durable }, async (m) => {
          again.push(m.seq);
        });
        await b.publish(`${s.prefix}.s`, text('y'));
        await expect.poll(() => again, POLL).toEqual([2]);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'stores keys with revisions and compare-and-set',
      async () => {
        const b = await bus();
        const bucket = bucketName();
        const kv = await b.kv({ bucket });
        expect(await kv.get('missing')).toBeNull();

        const r1 = await kv.put('alpha', text('1'));
        const e1 = await kv.get('alpha');
        expect(e1 && { key: e1.key, value: str(e1.value), revision: e1.revision }).toEqual({
          key: 'alpha',
          value: '1',
          revision: r1,
        });

        await expect(kv.create('alpha', text('again'))).rejects.toBeInstanceOf(BusConflictError);
        const rb = await kv.create('beta', text('b'));
        expect(rb).toBeGreaterThan(r1);

        const r2 = await kv.update('alpha', text('2'), r1);
        expect(r2).toBeGreaterThan(rb);
        await expect(kv.update('alpha', text('stale'), r1)).rejects.toBeInstanceOf(BusConflictError);
        await expect(kv.update('nobody', text('x'), r1)).rejects.toBeInstanceOf(BusConflictError);
        expect(str((await kv.get('alpha'))!.value)).toBe('2');

        expect((await kv.keys()).sort()).toEqual(['alpha', 'beta']);
        await kv.delete('beta');
        expect(await kv.get('beta')).toBeNull();
        expect(await kv.keys()).toEqual(['alpha']);
        // A deleted key can be created again.
        const rb2 = await kv.create('beta', text('b2'));
        expect(str((await kv.get('beta'))!.value)).toBe('b2');
        expect((await kv.get('beta'))!.revision).toBe(rb2);

        // A second handle on the bucket sees the same data.
        const again = await b.kv({ bucket });
        expect(str((await again.get('alpha'))!.value)).toBe('2');
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'watches later changes only',
      async () => {
        const b = await bus();
        const kv = await b.kv({ bucket: bucketName() });
        await kv.put('before', text('old'));
        const changes: KvChange[] = [];
        const sub = await kv.watch((c) => changes.push(c));
        const rp = await kv.put('k1', text('v1'));
        await kv.delete('k1');
        await expect.poll(() => changes.length, POLL).toBe(2);
        const [put, del] = changes;
        expect(put?.op).toBe('put');
        if (put?.op === 'put') {
          expect(put.entry.key).toBe('k1');
          expect(str(put.entry.value)).toBe('v1');
          expect(put.entry.revision).toBe(rp);
        }
        expect(del).toMatchObject({ op: 'delete', key: 'k1' });
        if (del?.op === 'delete') expect(del.revision).toBeGreaterThan(rp);

        await sub.stop();
        await kv.put('k2', text('after stop'));
        await sleep(200);
        expect(changes).toHaveLength(2);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'expires keys after the bucket ttl',
      async () => {
        const b = await bus();
        const kv = await b.kv({ bucket: bucketName(), ttlMs: 1_000 });
        await kv.put('short', text('lived'));
        expect(await kv.get('short')).not.toBeNull();
        await expect.poll(() => kv.get('short'), { timeout: 10_000, interval: 200 }).toBeNull();
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'broadcasts to every live listener',
      async () => {
        const b1 = await bus();
        const b2 = options.sharedBroker === true ? await bus() : b1;
        const p = `t.${uid()}`;
        const exact: string[] = [];
        const wild: string[] = [];
        const other: string[] = [];
        const l1 = await b1.listen(`${p}.cache.*`, (subject, data) => exact.push(`${subject}=${str(data)}`));
        const l2 = await b2.listen(`${p}.>`, (subject, data) => wild.push(`${subject}=${str(data)}`));
        const l3 = await b2.listen(`${p}.elsewhere`, (subject) => other.push(subject));
        await b1.broadcast(`${p}.cache.users`, text('flush'));
        await expect.poll(() => exact, POLL).toEqual([`${p}.cache.users=flush`]);
        await expect.poll(() => wild, POLL).toEqual([`${p}.cache.users=flush`]);

        await l1.stop();
        await b1.broadcast(`${p}.cache.roles`, text('flush'));
        await expect.poll(() => wild.length, POLL).toBe(2);
        expect(exact).toHaveLength(1);
        expect(other).toHaveLength(0);
        await Promise.all([l2.stop(), l3.stop()]);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'tails a stream: every tailing process gets each later message in order, none stored before',
      async () => {
        const b1 = await bus();
        const b2 = options.sharedBroker === true ? await bus() : b1;
        const s = await stream(b1);
        await b1.publish(`${s.prefix}.n.a`, text('before'));
        const first: BusMessage[] = [];
        const second: string[] = [];
        const filtered: string[] = [];
        const t1 = await b1.tail({ stream: s.name }, (m) => first.push(m));
        const t2 = await b2.tail({ stream: s.name }, (m) => second.push(str(m.data)));
        const t3 = await b2.tail({ stream: s.name, filterSubjects: [`${s.prefix}.n.b`] }, (m) =>
          filtered.push(str(m.data)),
        );
        const sent: string[] = [];
        for (let i = 0; i < 20; i++) {
          sent.push(`m${i}`);
          await b1.publish(`${s.prefix}.n.${i % 2 === 0 ? 'a' : 'b'}`, text(`m${i}`), {
            headers: { 'x-i': String(i) },
          });
        }
        await expect.poll(() => first.length, POLL).toBe(20);
        await expect.poll(() => second.length, POLL).toBe(20);
        await expect.poll(() => filtered.length, POLL).toBe(10);
        expect(first.map((m) => str(m.data))).toEqual(sent);
        expect(second).toEqual(sent);
        expect(filtered).toEqual(sent.filter((_, i) => i % 2 === 1));
        expect(first[3]!.subject).toBe(`${s.prefix}.n.b`);
        expect(first[3]!.headers).toEqual({ 'x-i': '3' });
        expect(first[1]!.seq).toBe(first[0]!.seq + 1);

        // A stopped tail gets nothing more; the others go on.
        await t1.stop();
        await b1.publish(`${s.prefix}.n.b`, text('after'));
        await expect.poll(() => second.length, POLL).toBe(21);
        await expect.poll(() => filtered.length, POLL).toBe(11);
        await sleep(100);
        expect(first).toHaveLength(20);
        await Promise.all([t2.stop(), t3.stop()]);
      },
      TEST_TIMEOUT_MS,
    );

    it('refuses to tail a missing stream or outside its subjects', async () => {
      const b = await bus();
      const s = await stream(b);
      await expect(b.tail({ stream: `T_${uid()}_missing` }, () => {})).rejects.toThrow();
      await expect(
        b.tail({ stream: s.name, filterSubjects: [`elsewhere.${uid()}`] }, () => {}),
      ).rejects.toThrow(/not within/);
    });

    it('answers ping while open and refuses work once closed', async () => {
      const b = await bus();
      await expect(b.ping()).resolves.toBeUndefined();
      const s = await stream(b);
      await b.consume({ stream: s.name, durable: `d_${uid()}` }, async () => {});
      await b.close();
      await b.close();
      await expect(b.ping()).rejects.toThrow();
      await expect(b.publish(`${s.prefix}.x`, text('x'))).rejects.toThrow();
    });
  });
}
