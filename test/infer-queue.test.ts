/**
 * The queue in front of a model session, on its own: which messages travel together to the worker,
 * and when. The runner is a stand-in whose requests the test answers by hand.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InferQueue } from '../src/lib/onnx/infer-queue';
import type { QueueOptions } from '../src/lib/onnx/infer-queue';
import type { ModelRef, RunResult } from '../src/lib/onnx/protocol';

const MODEL: ModelRef = { name: 'm', version: '1', sha256: 'x' };

/** A queue whose runner records each request and lets the test answer it. */
function harness(options: Partial<QueueOptions>) {
  const requests: Array<{ payloads: unknown[]; answer(): void }> = [];
  const answered: unknown[] = [];
  let onRequest: (() => void) | undefined;
  const queue = new InferQueue<number>(
    { size: 100, overflow: 'error', batch: false, maxBatch: 32, batchWindowMs: 0, inFlight: 2, maxPerRequest: 16, ...options },
    (payloads) =>
      new Promise((resolve) => {
        const results: RunResult[] = payloads.map(() => ({ ok: true, payload: {}, inferenceMs: 0, batchSize: payloads.length }));
        requests.push({ payloads, answer: () => resolve({ model: MODEL, results }) });
        onRequest?.();
      }),
    {
      answer: (token) => answered.push(token),
      fail: (token, err) => assert.fail(`message ${token} failed: ${err.message}`),
      dropped: (token) => assert.fail(`message ${token} dropped`),
      changed: () => undefined,
    },
  );
  const nextRequest = (): Promise<void> =>
    new Promise((resolve) => {
      onRequest = () => {
        onRequest = undefined;
        resolve();
      };
    });
  /** Answers request i and waits until its messages are answered and the queue has pumped again. */
  const answer = async (i: number): Promise<void> => {
    const before = answered.length;
    requests[i]!.answer();
    while (answered.length < before + requests[i]!.payloads.length) await Promise.resolve();
    await new Promise<void>((resolve) => setImmediate(resolve));
  };
  const push = (from: number, to: number): void => {
    for (let i = from; i < to; i++) queue.push(i, i);
  };
  return { queue, requests, answered, nextRequest, answer, push };
}

describe('infer queue', () => {
  test('without batching: a free slot takes what waits at once, up to maxPerRequest per request, two in flight', async () => {
    const h = harness({});
    h.push(0, 40);
    assert.deepEqual(
      h.requests.map((r) => r.payloads.length),
      [1, 1],
      'each of the first two found a free slot',
    );
    await h.answer(0);
    assert.deepEqual(
      h.requests.map((r) => r.payloads.length),
      [1, 1, 16],
      'those that waited share a request',
    );
    await h.answer(1);
    await h.answer(2);
    assert.deepEqual(
      h.requests.map((r) => r.payloads.length),
      [1, 1, 16, 16, 6],
    );
    await h.answer(3);
    await h.answer(4);
    assert.deepEqual(
      h.answered,
      Array.from({ length: 40 }, (_, i) => i),
      'every message answered once, in order',
    );
    assert.equal(h.queue.inFlight, 0);
  });

  test('with batching: what arrives in one turn goes together; a full batch goes while another runs; a partial one waits for the worker to be idle', async () => {
    const h = harness({ batch: true, maxBatch: 8 });
    const first = h.nextRequest();
    h.push(0, 3);
    assert.equal(h.requests.length, 0, 'a partial batch does not leave in the turn it arrived in');
    await first;
    assert.deepEqual(
      h.requests.map((r) => r.payloads),
      [[0, 1, 2]],
      'the messages of that turn went as one batch',
    );
    h.push(3, 10);
    assert.equal(h.requests.length, 1, 'seven messages wait: not a full batch, and the worker is busy');
    h.push(10, 13);
    assert.deepEqual(h.requests[1]!.payloads, [3, 4, 5, 6, 7, 8, 9, 10], 'a full batch takes the second slot');
    h.push(13, 16);
    assert.equal(h.requests.length, 2, 'no slot free');
    await h.answer(0);
    assert.equal(h.requests.length, 2, 'the worker still runs the full batch: the partial one keeps gathering');
    const third = h.nextRequest();
    await h.answer(1);
    await third;
    assert.deepEqual(h.requests[2]!.payloads, [11, 12, 13, 14, 15], 'the worker is idle: the gathered messages go as one batch');
    await h.answer(2);
    assert.deepEqual(
      h.answered,
      Array.from({ length: 16 }, (_, i) => i),
    );
  });

  test('with batching, the answers of one batch and the messages they bring back travel as the next full batch', async () => {
    // A closed loop, as a flow that feeds each answer back (or a line whose rate matches the model's):
    // each answer comes back as a new message one turn later, as Node-RED delivers it.
    const h = harness({ batch: true, maxBatch: 4 });
    let next = 8;
    h.push(0, 8);
    assert.deepEqual(
      h.requests.map((r) => r.payloads.length),
      [4, 4],
      'the first message did not leave alone',
    );
    for (let i = 0; i < 4; i++) {
      const count = h.requests[i]!.payloads.length;
      const arrived = h.nextRequest();
      await h.answer(i);
      setImmediate(() => {
        h.push(next, next + count);
        next += count;
      });
      await arrived;
    }
    assert.deepEqual(
      h.requests.map((r) => r.payloads.length),
      [4, 4, 4, 4, 4, 4],
      'never a batch of one after a batch of three',
    );
    h.queue.close();
  });

  test('with a batch window, a lone message waits for company, counted from its own arrival; a full batch does not wait', async () => {
    const windowMs = 40;
    const h = harness({ batch: true, maxBatch: 4, batchWindowMs: windowMs });
    const started = performance.now();
    const first = h.nextRequest();
    h.push(0, 1);
    assert.equal(h.requests.length, 0, 'the lone message waits');
    await first;
    assert.ok(performance.now() - started >= windowMs - 1, 'it waited for the window');
    assert.deepEqual(h.requests[0]!.payloads, [0]);
    await h.answer(0);
    h.push(1, 5);
    assert.deepEqual(h.requests[1]!.payloads, [1, 2, 3, 4], 'a full batch goes at once, with no wait');
    await h.answer(1);
    h.queue.close();
  });

  test('maxRequestBytes: big inputs travel a few at a time (at least one per request), small ones still share', async () => {
    const h = harness({ maxRequestBytes: 100, inFlight: 1 });
    const sizes = [60, 60, 30, 10, 250, 5, 5];
    sizes.forEach((bytes, i) => h.queue.push(i, i, bytes));
    for (let i = 0; h.answered.length < sizes.length; i++) await h.answer(i);
    const groups = h.requests.map((r) => r.payloads as number[]);
    // every request within the budget unless it is a single message
    for (const g of groups) assert.ok(g.length === 1 || g.reduce((n, i) => n + sizes[i]!, 0) <= 100, JSON.stringify(groups));
    assert.deepEqual(
      groups.flat(),
      sizes.map((_, i) => i),
      'in order, none lost',
    );
    assert.deepEqual(groups, [[0], [1, 2, 3], [4], [5, 6]]);
  });

  test('maxWaitingBytes: a queue full by bytes applies its overflow policy like a queue full by count', () => {
    const make = (overflow: QueueOptions['overflow']) => {
      const events = { answered: [] as number[], failed: [] as Array<[number, string]>, dropped: [] as number[] };
      const queue = new InferQueue<number>(
        { size: 100, overflow, batch: false, maxBatch: 32, batchWindowMs: 0, inFlight: 1, maxPerRequest: 16, maxWaitingBytes: 100 },
        () => new Promise(() => undefined), // the worker never answers: everything after the first waits
        {
          answer: (token) => events.answered.push(token),
          fail: (token, err) => events.failed.push([token, (err as { code?: string }).code ?? '']),
          dropped: (token) => events.dropped.push(token),
          changed: () => undefined,
        },
      );
      return { queue, events };
    };
    // message 0 goes to the worker at once; 1..4 wait with 40 bytes each: the third of them passes 100
    const sizes = [40, 40, 40, 40, 40];
    const error = make('error');
    sizes.forEach((b, i) => error.queue.push(i, i, b));
    assert.deepEqual(error.events.failed, [
      [3, 'EDGEML_ONNX_QUEUE_FULL'],
      [4, 'EDGEML_ONNX_QUEUE_FULL'],
    ]);
    assert.equal(error.queue.length, 2);
    const newest = make('drop-newest');
    sizes.forEach((b, i) => newest.queue.push(i, i, b));
    assert.deepEqual(newest.events.dropped, [3, 4]);
    const oldest = make('drop-oldest');
    sizes.forEach((b, i) => oldest.queue.push(i, i, b));
    assert.deepEqual(oldest.events.dropped, [1, 2]);
    assert.equal(oldest.queue.length, 2);
    assert.equal(oldest.queue.droppedCount, 2);
    // one message bigger than the whole budget still waits when it is alone
    const alone = make('error');
    alone.queue.push(0, 0, 10);
    alone.queue.push(1, 1, 500);
    assert.deepEqual(alone.events.failed, []);
    assert.equal(alone.queue.length, 1);
  });
});
