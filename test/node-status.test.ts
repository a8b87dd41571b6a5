/**
 * NodeStatus, the status of a busy node: the first change shows at once, later ones are folded into
 * one update per interval showing the latest state, repeats are not sent; and in a real flow a
 * Status node sees a handful of updates for a burst of messages, the last one after the burst.
 */
import { afterEach, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, NodeAPI, NodeStatus as StatusObject } from 'node-red';
import { NodeStatus, STATUS_INTERVAL_MS } from '../src/nodes/shared/runtime';
import { getNode, inject, loadFlow, nextMessages, unloadFlow, type FlowNode, type Msg } from './helpers/flow';

function fakes(): { RED: NodeAPI; node: Node; shown: StatusObject[] } {
  const shown: StatusObject[] = [];
  const RED = { _: (key: string, params?: Record<string, unknown>) => `${key} ${JSON.stringify(params ?? {})}` } as unknown as NodeAPI;
  const node = { status: (s: StatusObject) => shown.push(s) } as unknown as Node;
  return { RED, node, shown };
}

test('updates within an interval are folded into one that shows the latest state', () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const { RED, node, shown } = fakes();
    const status = new NodeStatus(RED, node);
    for (let n = 1; n <= 100; n++) status.update(() => ['ready', 'k', { n }]);
    assert.deepEqual(
      shown.map((s) => s.text),
      ['k {"n":1}'],
      'the first change shows at once',
    );
    mock.timers.tick(STATUS_INTERVAL_MS);
    assert.deepEqual(
      shown.map((s) => s.text),
      ['k {"n":1}', 'k {"n":100}'],
      'then the latest, once',
    );
    mock.timers.tick(STATUS_INTERVAL_MS * 5);
    assert.equal(shown.length, 2, 'nothing more while nothing changes');
    status.update(() => ['ready', 'k', { n: 100 }]);
    assert.equal(shown.length, 2, 'a repeat of what is shown is not sent');
    status.update(() => ['warn', 'k', { n: 101 }]);
    assert.equal(shown.at(-1)?.fill, 'yellow', 'after a quiet interval a change shows at once again');
    status.update(() => ['ready', 'k', { n: 102 }]);
    status.show('error', 'bad');
    assert.deepEqual(
      shown.slice(2).map((s) => [s.fill, s.text]),
      [
        ['yellow', 'k {"n":101}'],
        ['red', 'bad'],
      ],
      'show() goes out at once and replaces a pending update',
    );
    status.update(() => ['ready', 'k', { n: 103 }]);
    status.close();
    mock.timers.tick(STATUS_INTERVAL_MS * 2);
    assert.equal(shown.length, 4, 'closed: the pending update is dropped');
  } finally {
    mock.timers.reset();
  }
});

afterEach(() => unloadFlow());

test('a burst of 200 messages through ml-guard gives a Status node a few updates, the last after the burst', async () => {
  const flow: FlowNode[] = [
    { id: 'tab', type: 'tab' },
    { id: 'guard', type: 'ml-guard', z: 'tab', features: 'a,b', wires: [['good'], []] },
    { id: 'good', type: 'helper', z: 'tab' },
    { id: 'watch', type: 'status', z: 'tab', scope: ['guard'], wires: [['statuses']] },
    { id: 'statuses', type: 'helper', z: 'tab' },
  ];
  await loadFlow(['ml-guard'], flow);
  const seen: Msg[] = [];
  const statuses = getNode('statuses');
  statuses.on('input', (m: Msg) => seen.push(m));
  const passed = nextMessages('good', 200);
  for (let i = 0; i < 200; i++) inject('guard', { payload: { a: i, b: 1 } });
  await passed;
  const afterBurst = seen.length;
  await new Promise<void>((resolve) => statuses.once('input', () => resolve()));
  assert.ok(seen.length <= 4, `${seen.length} status updates for 200 messages`);
  assert.ok(seen.length > afterBurst, 'the latest state is shown after the burst');
  assert.equal((seen.at(-1)!.status as { fill: string }).fill, 'green');
});
