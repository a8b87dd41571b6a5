/**
 * ml-features: the join logic alone (fresh/stale, late and bad values), the node with Catch and
 * Complete nodes, and the whole OPC UA path: a real OPC UA server (node-opcua, the machine's
 * stand-in) read by a real node-red-contrib-opcua client node, joined by ml-features and run by
 * onnx-infer; the expected outputs are computed by the plain-JS reference of the test model.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { modelCardToMetadata } from '../src/lib/model-card';
import { FeatureJoin, parseMapping } from '../src/lib/features/join';
import { helper, inject, loadModule, nextMessage, nextMessages, nodeModule, type FlowNode } from './helpers/flow';
import { freePort } from './helpers/net';
import { mlpModel, mlpReference } from './helpers/onnx-models';

const codeOf = (e: unknown): string => (e as { code?: string }).code ?? String(e);

describe('FeatureJoin (logic)', () => {
  const mapping = parseMapping('flow = ns=1;s=Flow\npressure = ns=1;s=Pressure\n# comment\n\ncurrent');

  it('parses the mapping (the first = separates; a bare name is its own source) and refuses bad ones', () => {
    assert.deepEqual(mapping, [
      { name: 'flow', source: 'ns=1;s=Flow' },
      { name: 'pressure', source: 'ns=1;s=Pressure' },
      { name: 'current', source: 'current' },
    ]);
    for (const bad of ['', '# only a comment', 'a = x\na = y', 'a = x\nb = x', ' = x']) {
      assert.throws(
        () => parseMapping(bad),
        (e: unknown) => codeOf(e) === 'EDGEML_FEATURES_CONFIG',
        bad,
      );
    }
  });

  it('completes only with every value fresh; a stale one blocks; late older values do not replace newer ones', () => {
    const join = new FeatureJoin(mapping, 1000);
    assert.deepEqual(join.add([{ source: 'ns=1;s=Flow', value: 1, time: 0 }]), { waiting: ['pressure', 'current'], stale: [] });
    join.add([{ source: 'ns=1;s=Pressure', value: '2.5', time: 500 }]);
    const done = join.add([{ source: 'current', value: true, time: 900 }]);
    assert.ok('vector' in done);
    assert.deepEqual(done.vector.features, { flow: 1, pressure: 2.5, current: 1 });
    assert.equal(done.vector.spreadMs, 900);
    // current moves on by 2 s: flow and pressure are now stale
    assert.deepEqual(join.add([{ source: 'current', value: 3, time: 2900 }]), { waiting: [], stale: ['flow', 'pressure'] });
    join.add([
      { source: 'ns=1;s=Flow', value: 10, time: 2800 },
      { source: 'ns=1;s=Pressure', value: 20, time: 2850 },
    ]);
    const late = join.add([{ source: 'ns=1;s=Flow', value: -1, time: 100 }]);
    assert.ok('vector' in late && late.vector.features.flow === 10, 'an older reading arriving late is ignored');
  });

  it('a bad value or unknown source is refused and leaves the state as it was', () => {
    const join = new FeatureJoin(mapping, 1000, true);
    join.add([{ source: 'ns=1;s=Flow', value: 1, time: 0 }]);
    assert.throws(
      () =>
        join.add([
          { source: 'ns=1;s=Pressure', value: 2, time: 0 },
          { source: 'current', value: 'high', time: 0 },
        ]),
      (e: unknown) => codeOf(e) === 'EDGEML_FEATURES_VALUE_INVALID',
    );
    assert.throws(
      () => join.add([{ source: 'ns=9;s=Other', value: 2, time: 0 }]),
      (e: unknown) => codeOf(e) === 'EDGEML_FEATURES_UNKNOWN_SOURCE',
    );
    assert.throws(
      () => join.add([{ source: 'current', value: { a: 1 }, time: 0 }]),
      (e: unknown) => codeOf(e) === 'EDGEML_FEATURES_VALUE_INVALID',
    );
    assert.deepEqual(join.add([{ source: 'current', value: 3, time: 0 }]), { waiting: ['pressure'], stale: [] }, 'the refused batch set nothing');
    const full = join.add([{ source: 'ns=1;s=Pressure', value: 2, time: 0 }]);
    assert.ok('vector' in full);
    assert.deepEqual(join.add([{ source: 'current', value: 4, time: 1 }]), { waiting: ['flow', 'pressure'], stale: [] }, 'reset clears after a vector');
  });
});

describe('ml-features node', () => {
  before(async () => {
    const flow: FlowNode[] = [
      { id: 'tab', type: 'tab', label: 'features' },
      { id: 'feat', type: 'ml-features', z: 'tab', mapping: 'flow = ns=1;s=Flow\npressure = ns=1;s=Pressure', key: 'topic', maxAge: '1000', reset: false, timestamp: 'source', wires: [['out']] },
      { id: 'out', type: 'helper', z: 'tab', wires: [] },
      { id: 'catcher', type: 'catch', z: 'tab', scope: ['feat'], uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper', z: 'tab', wires: [] },
      { id: 'completer', type: 'complete', z: 'tab', scope: ['feat'], uncaught: false, wires: [['completed']] },
      { id: 'completed', type: 'helper', z: 'tab', wires: [] },
    ];
    await helper.load([nodeModule('ml-features')], flow, {});
  });
  after(() => helper.unload());

  it('joins single values by msg.topic and a batch; bad input reaches Catch with a code and the flow goes on', async () => {
    const t = Date.parse('2026-01-01T00:00:00Z');
    const first = nextMessage('completed');
    inject('feat', { topic: 'ns=1;s=Flow', payload: 4, sourceTimestamp: new Date(t) });
    await first;
    const out = nextMessage('out');
    inject('feat', { topic: 'ns=1;s=Pressure', payload: 7, sourceTimestamp: new Date(t + 200) });
    const m = await out;
    assert.deepEqual(m.payload, { flow: 4, pressure: 7 });
    assert.equal(m.featureSpreadMs, 200);

    for (const [bad, code] of [
      [{ topic: 'ns=1;s=Temp', payload: 1 }, 'EDGEML_FEATURES_UNKNOWN_SOURCE'],
      [{ topic: 'ns=1;s=Flow', payload: 'n/a' }, 'EDGEML_FEATURES_VALUE_INVALID'],
      [{ payload: 5 }, 'EDGEML_FEATURES_NO_SOURCE'],
      [{ payload: [{ value: 1 }] }, 'EDGEML_FEATURES_NO_SOURCE'],
    ] as const) {
      const caught = nextMessage('caught');
      inject('feat', bad);
      assert.equal(((await caught).error as { code: string }).code, code);
    }
    const batch = nextMessage('out');
    inject('feat', {
      payload: [
        { nodeId: 'ns=1;s=Flow', value: 1, sourceTimestamp: t + 5000 },
        { topic: 'ns=1;s=Pressure', payload: 2, sourceTimestamp: t + 5100 },
      ],
    });
    assert.deepEqual((await batch).payload, { flow: 1, pressure: 2 });
  });
});

describe('ml-features with an unusable mapping', () => {
  after(() => helper.unload());
  it('refuses every message with EDGEML_FEATURES_CONFIG', async () => {
    const flow: FlowNode[] = [
      { id: 'tab', type: 'tab', label: 'features' },
      { id: 'feat', type: 'ml-features', z: 'tab', mapping: 'a = x\na = y', key: 'topic', maxAge: '1000', reset: false, timestamp: 'source', wires: [[]] },
      { id: 'catcher', type: 'catch', z: 'tab', scope: ['feat'], uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper', z: 'tab', wires: [] },
    ];
    await helper.load([nodeModule('ml-features')], flow, {});
    const caught = nextMessage('caught');
    inject('feat', { topic: 'x', payload: 1 });
    assert.equal(((await caught).error as { code: string }).code, 'EDGEML_FEATURES_CONFIG');
  });
});

describe('OPC UA server -> node-red-contrib-opcua client -> ml-features -> onnx-infer', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let server: any;
  let port: number;
  let dir: string;
  const values: Record<string, number> = { Flow: 98.4, Pressure: 4.3, Current: 27.1, Vibration: 2.0 };
  const names = ['flow', 'pressure', 'current', 'vibration'];
  const mlp = mlpModel({ inputs: 4, hidden: 6, outputs: 3, seed: 17, metadata: modelCardToMetadata({ name: 'pump', features: names }) });

  before(async () => {
    const opcua = loadModule('node-opcua') as typeof import('node-opcua');
    port = await freePort();
    server = new opcua.OPCUAServer({ port, hostname: '127.0.0.1', resourcePath: '/UA/pump', buildInfo: { productName: 'pump-standin' } });
    await server.initialize();
    const ns = server.engine.addressSpace.getOwnNamespace();
    const device = ns.addObject({ organizedBy: server.engine.addressSpace.rootFolder.objects, browseName: 'Pump' });
    for (const [browseName, v] of Object.entries(values)) {
      ns.addVariable({ componentOf: device, browseName, nodeId: `s=${browseName}`, dataType: 'Double', value: { dataType: opcua.DataType.Double, value: v } });
    }
    await server.start();
    dir = mkdtempSync(path.join(os.tmpdir(), 'ml-features-opcua-'));
    writeFileSync(path.join(dir, 'pump.onnx'), mlp.bytes);
  });
  after(async () => {
    // node-red-contrib-opcua 0.2.354's client node returns from close() without disconnecting its
    // client (`if (!node.disconnecting) return done()`), which then reconnects forever: disconnect it here.
    const client = (helper.getNode('client') as unknown as { client?: { disconnect(): Promise<void> } } | null)?.client;
    await client?.disconnect();
    await helper.unload();
    await server?.shutdown(0);
    // node-opcua counts clock-adjustment timer users globally; the contrib client's session does not
    // give its count back on close, which keeps the test process alive: release what is left.
    const clock = loadModule('node-opcua-date-time') as { periodicClockAdjustment: { timerInstallationCount: number }; uninstallPeriodicClockAdjustment(): void };
    while (clock.periodicClockAdjustment.timerInstallationCount > 0) clock.uninstallPeriodicClockAdjustment();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads four node ids over OPC UA, joins them and runs the model on them', async () => {
    const uri = `opc.tcp://127.0.0.1:${port}/UA/pump`;
    const ns = (name: string): string => `ns=1;s=${name}`;
    const flow: FlowNode[] = [
      { id: 'tab', type: 'tab', label: 'opcua' },
      { id: 'ep', type: 'OpcUa-Endpoint', endpoint: uri, secpol: 'None', secmode: 'None', none: true, login: false, usercert: false, usercertificate: '', userprivatekey: '' },
      {
        id: 'client',
        type: 'OpcUa-Client',
        z: 'tab',
        endpoint: 'ep',
        action: 'read',
        deadbandtype: 'a',
        deadbandvalue: 1,
        time: 10,
        timeUnit: 's',
        certificate: 'n',
        localfile: '',
        localkeyfile: '',
        securitymode: 'None',
        securitypolicy: 'None',
        useTransport: false,
        maxChunkCount: 1,
        maxMessageSize: 8192,
        receiveBufferSize: 8192,
        sendBufferSize: 8192,
        setstatusandtime: false,
        keepsessionalive: false,
        name: '',
        wires: [['feat'], [], []],
      },
      {
        id: 'feat',
        type: 'ml-features',
        z: 'tab',
        mapping: names.map((n) => `${n} = ${ns(n[0]!.toUpperCase() + n.slice(1))}`).join('\n'),
        key: 'topic',
        maxAge: '10000',
        reset: true,
        timestamp: 'source',
        wires: [['infer']],
      },
      { id: 'model', type: 'onnx-model', path: path.join(dir, 'pump.onnx'), watch: false, threads: '1' },
      { id: 'infer', type: 'onnx-infer', z: 'tab', model: 'model', property: 'payload', queueSize: '10', overflow: 'drop-oldest', wires: [['out']] },
      { id: 'out', type: 'helper', z: 'tab', wires: [] },
      { id: 'catcher', type: 'catch', z: 'tab', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper', z: 'tab', wires: [] },
    ];
    const opcuaDir = path.join(path.dirname(require.resolve('node-red-contrib-opcua/package.json')), 'opcua');
    await helper.load(
      [loadModule(path.join(opcuaDir, '105-opcuaendpoint.js')), loadModule(path.join(opcuaDir, '102-opcuaclient.js')), nodeModule('ml-features'), nodeModule('onnx-model'), nodeModule('onnx-infer')],
      flow,
      {},
    );
    const failed = nextMessage('caught', 60000).then((m) => {
      throw new Error(`flow error: ${JSON.stringify(m.error)}`);
    });
    const result = nextMessages('out', 1, 60000);
    // the client connects on deploy; a read sent before its session is up is queued by the client node
    for (const name of Object.keys(values)) inject('client', { topic: ns(name), payload: '' });
    const [m] = await Promise.race([result, failed]);
    const expected = mlpReference(mlp, [names.map((n) => values[n[0]!.toUpperCase() + n.slice(1)]!)])[0]!;
    const got = Array.from((m!.payload as { y: { data: number[] } }).y.data);
    assert.equal(got.length, expected.length);
    got.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-4, `output ${i}: ${v} vs ${expected[i]}`));
    assert.deepEqual(m!.features, { flow: 98.4, pressure: 4.3, current: 27.1, vibration: 2.0 });
  });
});
