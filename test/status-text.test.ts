/**
 * What a person sees when a message is bad: the node's status is a few translated words (a key of
 * the status-of catalogue that exists in en-US and de and holds no error code), a Catch node gets
 * msg.error.code, and with no Catch node the log (and so Debug) gets one line of text, not an
 * Error object to expand.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type FlowNode, type Msg, ROOT, getNode, inject, loadFlow, nextMessage, nextStatus, unloadFlow } from './helpers/flow';

afterEach(async () => {
  await unloadFlow();
});

const catalogue = (type: string, lang: string): Record<string, Record<string, string>> =>
  JSON.parse(readFileSync(path.join(ROOT, 'nodes', 'locales', lang, `${type}.json`), 'utf8')) as Record<string, Record<string, string>>;

/** The status text must be a key of the built catalogues whose words carry no error code. */
function assertStatusWords(type: string, text: string | undefined): void {
  const match = /^status-of\.(.+)$/.exec(text ?? '');
  assert.ok(match, `${type}: status ${JSON.stringify(text)} is not a status-of key`);
  for (const lang of ['en-US', 'de']) {
    const words = catalogue(type, lang)['status-of']?.[match[1]!];
    assert.ok(words, `${type}: ${text} is missing in ${lang}`);
    assert.doesNotMatch(words, /EDGEML_|__/, `${type} ${lang}: "${words}"`);
    assert.ok(words.length <= 32, `${type} ${lang}: "${words}" is not short`);
  }
}

interface Call {
  args: unknown[];
}
function nextCall(id: string, method: string): Promise<Call> {
  const node = getNode(id) as unknown as NodeJS.EventEmitter;
  return new Promise((resolve) => node.once(`call:${method}`, resolve));
}

const CASES: Array<{ type: string; config: Record<string, unknown>; msg: Record<string, unknown>; code: string }> = [
  { type: 'modbus-decode', config: { fields: [{ name: 'a', register: 0, type: 'uint16' }] }, msg: { payload: 'not registers' }, code: 'EDGEML_MODBUS_PAYLOAD_TYPE' },
  { type: 'modbus-decode', config: { fields: [{ name: 'a', register: 0, type: 'float32' }] }, msg: { payload: [1] }, code: 'EDGEML_MODBUS_TOO_FEW_REGISTERS' },
  { type: 'modbus-encode', config: { fields: [{ name: 'a', register: 0, type: 'uint16' }] }, msg: { payload: { a: 'x' } }, code: 'EDGEML_MODBUS_VALUE_NOT_NUMERIC' },
];

for (const c of CASES) {
  test(`${c.type} ${c.code}: short status words, the code for Catch`, async () => {
    const flow: FlowNode[] = [
      { id: 'tab', type: 'tab' },
      { id: 'n', z: 'tab', type: c.type, ...c.config, wires: [['out']] },
      { id: 'out', z: 'tab', type: 'helper' },
      { id: 'catcher', z: 'tab', type: 'catch', scope: ['n'], uncaught: false, wires: [['caught']] },
      { id: 'caught', z: 'tab', type: 'helper' },
    ];
    await loadFlow([c.type], flow);
    const red = nextStatus('n', (s) => s.fill === 'red');
    const caught = nextMessage('caught');
    let logged = 0;
    (getNode('n') as unknown as NodeJS.EventEmitter).on('call:log', () => logged++);
    inject('n', c.msg);
    const msg: Msg = await caught;
    const error = msg.error as { code?: string; message?: string };
    assert.equal(error.code, c.code);
    assert.ok(error.message && !error.message.includes('[object'), 'msg.error.message is text');
    assertStatusWords(c.type, (await red).text);
    assert.equal(logged, 0);
  });

  test(`${c.type} ${c.code}: with no Catch node the log gets one line of text`, async () => {
    const flow: FlowNode[] = [
      { id: 'tab', type: 'tab' },
      { id: 'n', z: 'tab', type: c.type, ...c.config, wires: [['out']] },
      { id: 'out', z: 'tab', type: 'helper' },
    ];
    await loadFlow([c.type], flow);
    const errorCall = nextCall('n', 'error');
    inject('n', c.msg);
    const call = await errorCall;
    assert.equal(call.args.length, 1, 'logged without the message object');
    assert.equal(typeof call.args[0], 'string');
    assert.doesNotMatch(call.args[0] as string, /\n/, 'one line');
  });
}
