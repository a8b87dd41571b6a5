/** ml-image in a real Node-RED runtime: tensor out, card steps, every bad input to a Catch node, sharp missing. */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import Module from 'node:module';
import path from 'node:path';
import { helper, inject, loadFlow, nextMessage, nextStatus, unloadFlow, getNode, ROOT, type FlowNode } from './helpers/flow';
import { pngOf, jpegOf } from './helpers/images';

afterEach(() => unloadFlow());

/** Every status the node has shown so far (the helper spies on Node.prototype.status). */
function statusesOf(id: string): Array<{ fill?: string; text?: string }> {
  const node = getNode(id);
  const spy = node.status as unknown as { args: Array<[{ fill?: string; text?: string }]>; thisValues: unknown[] };
  return spy.args.filter((_, i) => spy.thisValues[i] === node).map((a) => a[0]);
}

/** Warnings logged by a node (node.warn goes to the runtime log at level WARN). */
function warningsOf(id: string): string[] {
  const log = helper.log() as unknown as { args: Array<[{ level: number; id?: string; msg?: unknown }]> };
  return log.args.filter(([e]) => e.level === 30 && e.id === id).map(([e]) => String(e.msg));
}

function flow(config: Record<string, unknown>): FlowNode[] {
  const nodes: FlowNode[] = [
    { id: 'img', type: 'ml-image', name: '', wires: [['out']], ...config },
    { id: 'out', type: 'helper' },
    { id: 'catcher', type: 'catch', scope: ['img'], uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper' },
    { id: 'completer', type: 'complete', scope: ['img'], uncaught: false, wires: [['completed']] },
    { id: 'completed', type: 'helper' },
  ];
  return [{ id: 'tab', type: 'tab', label: 'test' }, ...nodes.map((n) => ({ ...n, z: 'tab' }))];
}

const png = pngOf(40, 20, () => [255, 0, 0]);

for (const backend of ['auto', 'js']) {
  test(`${backend}: a PNG becomes a [1, 3, 16, 16] tensor with its geometry; done() called; status names the decoder`, async () => {
    await loadFlow(['ml-image'], flow({ width: '16', height: '16', resizeMode: 'letterbox', pad: '0', backend, keepOriginal: true }));
    const out = nextMessage('out');
    const completed = nextMessage('completed');
    const status = nextStatus('img', (s) => s.fill === 'green');
    inject('img', { payload: png, topic: 'cam1' });
    const msg = await out;
    await completed;
    await status;
    assert.equal(statusesOf('img')[0]?.text, backend === 'js' ? 'ml-image.status.js' : 'ml-image.status.sharp');
    const t = msg.payload as { dtype: string; dims: number[]; data: Float32Array };
    assert.equal(t.dtype, 'float32');
    assert.deepEqual(t.dims, [1, 3, 16, 16]);
    // red band rows 4..11 (40x20 -> 16x8, 4 rows of padding), 1.0 in the red plane, 0 elsewhere
    assert.equal(t.data[0], 0);
    assert.equal(t.data[16 * 8 + 3], 1);
    assert.equal(t.data[256 + 16 * 8 + 3], 0);
    assert.deepEqual((msg.imageGeometry as { pad: unknown }).pad, { left: 0, top: 4, right: 0, bottom: 4 });
    assert.equal(msg.topic, 'cam1');
    assert.ok(Buffer.isBuffer(msg.image));
  });

  test(`${backend}: every bad input ends in done(err) with its code, and the next image still works`, async () => {
    await loadFlow(['ml-image'], flow({ width: '8', height: '8', maxPixels: '100000', backend }));
    const jpg = jpegOf(32, 32, (x, y) => [x * 8, y * 8, 0]);
    const cases: Array<[unknown, string]> = [
      [Buffer.from('GIF89a not supported'), 'EDGEML_IMAGE_FORMAT'],
      [jpg.subarray(0, jpg.length >> 1), 'EDGEML_IMAGE_CORRUPT'],
      [pngOf(400, 400, () => [0, 0, 0]), 'EDGEML_IMAGE_TOO_LARGE'],
      [{ data: Buffer.alloc(12), width: 2, height: 2, channels: 6 }, 'EDGEML_IMAGE_CHANNELS'],
      [{ data: Buffer.alloc(13), width: 2, height: 2, channels: 3 }, 'EDGEML_IMAGE_RAW_LENGTH'],
      ['a string', 'EDGEML_IMAGE_INPUT'],
    ];
    const errStatus = nextStatus('img', (s) => s.fill === 'red');
    for (const [payload, code] of cases) {
      const caught = nextMessage('caught');
      inject('img', { payload });
      const c = await caught;
      assert.equal((c.error as { code?: string }).code, code);
      assert.ok(!/__\w+__/.test(String((c.error as { message?: string }).message)), `translated: ${String((c.error as { message?: string }).message)}`);
    }
    await errStatus;
    const out = nextMessage('out');
    inject('img', { payload: jpg });
    assert.deepEqual(((await out).payload as { dims: number[] }).dims, [1, 3, 8, 8]);
  });
}

test('steps come from msg.modelCard (edgeml.image) where the node leaves them blank; "Model input" names the tensor', async () => {
  await loadFlow(['ml-image'], flow({ width: '', height: '', inputName: 'images' }));
  const out = nextMessage('out');
  inject('img', { payload: [png, png], modelCard: { image: { width: 12, height: 6, layout: 'NHWC', dtype: 'uint8' } } });
  const msg = await out;
  const t = (msg.payload as Record<string, { dims: number[]; dtype: string }>).images!;
  assert.deepEqual(t.dims, [2, 6, 12, 3]);
  assert.equal(t.dtype, 'uint8');
  assert.equal((msg.imageGeometry as unknown[]).length, 2);
});

test('no size anywhere: a configuration error per message, coded; a bad setting shows the config status', async () => {
  await loadFlow(['ml-image'], flow({}));
  const caught = nextMessage('caught');
  inject('img', { payload: png });
  assert.equal(((await caught).error as { code?: string }).code, 'EDGEML_IMAGE_CONFIG');
  await unloadFlow();
  await loadFlow(['ml-image'], flow({ width: '8', height: '8', std: '0.2, 0' }));
  const caught2 = nextMessage('caught');
  inject('img', { payload: png });
  assert.equal(((await caught2).error as { code?: string }).code, 'EDGEML_IMAGE_CONFIG');
});

test('where sharp cannot load: a warning, a yellow status, and the pure-JS decoder does the work', async () => {
  const M = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
  const original = M._load;
  M._load = function (request: string, ...rest: unknown[]) {
    if (request === 'sharp') throw new Error('Could not load the "sharp" module using the linux-arm runtime');
    return original.call(this, request, ...rest);
  };
  try {
    await loadFlow(['ml-image'], flow({ width: '8', height: '8' }));
    assert.ok(
      warningsOf('img').some((w) => /fallback|linux-arm/.test(w)),
      `warned about sharp: ${warningsOf('img').join(' | ')}`,
    );
    assert.deepEqual(statusesOf('img')[0], { fill: 'yellow', shape: 'dot', text: 'ml-image.status.fallback' });
    const out = nextMessage('out');
    const ready = nextStatus('img', (s) => s.fill === 'green');
    inject('img', { payload: png });
    assert.deepEqual(((await out).payload as { dims: number[] }).dims, [1, 3, 8, 8]);
    await ready;
  } finally {
    M._load = original;
  }
});

test('the runtime log says once, at the first frame, what the image threads run at: background (the default) and normal', async () => {
  // the test runtime logs message keys untranslated; the key names the state
  const messages = JSON.parse(readFileSync(path.join(ROOT, 'src', 'nodes', 'ml-image', 'locales', 'en-US', 'messages.json'), 'utf8')) as { 'ml-image': { log: { priority: Record<string, string> } } };
  const keys = Object.keys(messages['ml-image'].log.priority).map((k) => `ml-image.log.priority.${k}`);
  const chrt = process.platform === 'linux' && spawnSync('chrt', ['--version']).status === 0;
  const background = process.platform !== 'linux' ? 'unsupported' : chrt ? 'idle' : 'nice';
  for (const [priority, state] of [
    [undefined, background],
    ['normal', 'normal'],
  ] as const) {
    await loadFlow(['ml-image'], flow({ width: '8', height: '8', ...(priority ? { priority } : {}) }));
    for (let i = 0; i < 2; i++) {
      const out = nextMessage('out');
      inject('img', { payload: png });
      await out;
    }
    const infos = (helper.log() as unknown as { args: Array<[{ level: number; id?: string; msg?: unknown }]> }).args.filter(([e]) => e.level === 40 && e.id === 'img').map(([e]) => String(e.msg));
    assert.deepEqual(
      infos.filter((m) => keys.includes(m)),
      [`ml-image.log.priority.${state}`],
      `${priority ?? 'default'}: ${JSON.stringify(infos)}`,
    );
    await unloadFlow();
  }
});
