/**
 * Every example flow (examples/*.json) in one real Node-RED process, with this package installed in
 * its user directory the way the palette manager would (node_modules/node-red-contrib-edge-ml, a link
 * to the project) and the third-party nodes the examples use (dashboard, sqlite, contrib-modbus)
 * found in the project's own node_modules beside node-red. Each example is deployed as the whole
 * flow: all of its node types must be known, GET /flows must return it, and nothing may log an error.
 * The PLC example polls a real Modbus TCP server; the HTTP example answers real requests and logs to
 * a real SQLite file. Run `npm run build` first: this test loads the built nodes/.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ServerTCP } from 'modbus-serial';
import sqlite3 from 'sqlite3';
import WebSocket from 'ws';
import mqtt from 'mqtt';
import { startBroker, type TestBroker } from './helpers/broker';
import { freePort, waitForPort } from './helpers/net';
import { pumpCard, pumpReference } from './helpers/pump-reference';
import { declaredNodes, ROOT, startNodeRed, userDirWithPackage, type NodeRedProcess } from './helpers/nodered-process';

type FlowNode = { id: string; type: string; z?: string; [key: string]: unknown };

const EXAMPLES_DIR = path.join(ROOT, 'examples');
const exampleFiles = readdirSync(EXAMPLES_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();
const examples = new Map(exampleFiles.map((f) => [f, JSON.parse(readFileSync(path.join(EXAMPLES_DIR, f), 'utf8')) as FlowNode[]]));

/** Types every flow file may use without a node set: tabs, subflow instances, groups, junctions. */
const STRUCTURAL = new Set(['tab', 'subflow', 'group', 'junction']);

/**
 * [error] lines that are expected here without the outside world. Kept minimal: each names why.
 * (None needed so far: the PLC example gets a real Modbus server, and brokers that are absent only
 * produce info/warn lines.)
 */
const EXPECTED_ERRORS: RegExp[] = [];

const card = pumpCard;
const FEATURES = card.features ?? [];

let red: NodeRedProcess;
let userDir: string;
let plc: ServerTCP | undefined;
let plcPort = 0;
const holding = new Array<number>(256).fill(0);
/** The reading the test PLC holds in registers 0..9 from the start, so that every poll sees it. */
const PLC_READING = [98.4, 4.3, 27.1, 2.0, 49.5].map(Math.fround);
let onWrite: ((addr: number) => void) | undefined;
let knownTypes = new Set<string>();
/** The broker of the fleet dashboard example (its MQTT nodes point here instead of :1883). */
let fleetBroker: TestBroker | undefined;

/** What the editor would see over the admin websocket: node statuses (retained) and debug messages. */
interface CommsEvent {
  topic: string;
  data: { fill?: string; text?: string; id?: string; msg?: string };
}
let comms: WebSocket | undefined;
const statuses = new Map<string, CommsEvent['data']>();
const debugMessages: CommsEvent['data'][] = [];
const commsWaiters: Array<() => void> = [];

function openComms(): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${red.url.replace('http', 'ws')}/comms`);
    socket.once('error', reject);
    socket.once('open', () => {
      socket.send(JSON.stringify({ subscribe: 'status/#' }));
      socket.send(JSON.stringify({ subscribe: 'debug' }));
      comms = socket;
      resolve();
    });
    socket.on('message', (raw) => {
      const parsed = JSON.parse(String(raw)) as CommsEvent | CommsEvent[];
      for (const event of Array.isArray(parsed) ? parsed : [parsed]) {
        if (event.topic.startsWith('status/')) statuses.set(event.topic.slice('status/'.length), event.data);
        else if (event.topic === 'debug') debugMessages.push(event.data);
      }
      for (const wake of commsWaiters.splice(0)) wake();
    });
  });
}

/** Resolves when `condition` holds after some comms event. */
function until(condition: () => boolean, what: string, timeoutMs = 20000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
    const check = (): void => {
      if (condition()) {
        clearTimeout(timer);
        resolve();
      } else commsWaiters.push(check);
    };
    check();
  });
}

/** Resolves when every node in `ids` shows a status whose fill is not yellow (loaded or failed). */
function settled(ids: string[], timeoutMs = 30000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`statuses did not settle: ${JSON.stringify(ids.map((id) => [id, statuses.get(id)]))}`)), timeoutMs);
    const check = (): void => {
      if (ids.every((id) => statuses.get(id)?.fill !== undefined && statuses.get(id)?.fill !== 'yellow')) {
        clearTimeout(timer);
        resolve();
      } else commsWaiters.push(check);
    };
    check();
  });
}

/** float32 values -> registers, low word first (CDAB), written here independently of src/lib/modbus. */
function floatsToCdab(values: number[]): number[] {
  const view = new DataView(new ArrayBuffer(4));
  return values.flatMap((v) => {
    view.setFloat32(0, v, false);
    return [view.getUint16(2, false), view.getUint16(0, false)];
  });
}

function cdabToFloat(low: number, high: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint16(0, high, false);
  view.setUint16(2, low, false);
  return view.getFloat32(0, false);
}

/**
 * The flow as deployed here: fixed ports of the examples point to ports of this test instead, because
 * other test files may run Node-RED with the same example (and its port 5020) at the same time.
 */
async function forThisTest(flow: FlowNode[], file = ''): Promise<FlowNode[]> {
  const out: FlowNode[] = [];
  for (const node of flow) {
    if (file === 'fleet-dashboard.json' && node.type === 'mqtt-broker') out.push({ ...node, broker: '127.0.0.1', port: String(fleetBroker!.port) });
    else if (node.type === 'modbus-server-in')
      out.push({ ...node, port: '0' }); // an ephemeral port
    else if (node.type === 'modbus-client') out.push({ ...node, tcpHost: '127.0.0.1', tcpPort: String(plcPort) });
    else out.push(node);
  }
  return out;
}

function errorLines(log: string): string[] {
  return log.split('\n').filter((line) => /\[error\]/.test(line) && !EXPECTED_ERRORS.some((re) => re.test(line)));
}

function byId(flow: unknown[]): Map<string, unknown> {
  return new Map((flow as FlowNode[]).map((n) => [n.id, n]));
}

function query<T>(file: string, sql: string): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (openError) => {
      if (openError) return reject(openError);
      db.get(sql, (error: Error | null, row: T | undefined) => {
        db.close();
        if (error) reject(error);
        else resolve(row);
      });
    });
  });
}

/**
 * Resolves once the example's CREATE TABLE (an inject at deploy, in the Node-RED process) has run.
 * The only way to observe it from outside is the file itself, so this re-checks it until a deadline.
 */
async function waitForTable(file: string, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = existsSync(file) ? await query<{ name: string }>(file, "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'predictions'").catch(() => undefined) : undefined;
    if (found) return;
    if (Date.now() > deadline) throw new Error(`the predictions table did not appear in ${file} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function rowCount(file: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (openError) => {
      if (openError) return reject(openError);
      db.get('SELECT COUNT(*) AS n FROM predictions', (error: Error | null, row: { n: number } | undefined) => {
        db.close();
        if (error) reject(error);
        else resolve(row?.n ?? 0);
      });
    });
  });
}

async function post(pathname: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${red.url}${pathname}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: JSON.parse(text) as Record<string, unknown> };
}

before(async () => {
  assert.ok(existsSync(path.join(ROOT, 'nodes', 'onnx-infer.js')), 'run `npm run build` first: nodes/ is missing');
  plcPort = await freePort(); // ServerTCP cannot bind port 0 itself
  holding.splice(0, 10, ...floatsToCdab(PLC_READING));
  plc = new ServerTCP(
    {
      getHoldingRegister: (addr: number) => holding[addr] ?? 0,
      setRegister: (addr: number, value: number) => {
        holding[addr] = value;
        onWrite?.(addr);
      },
    },
    { host: '127.0.0.1', port: plcPort, unitID: 1 },
  );
  await waitForPort(plcPort);
  userDir = userDirWithPackage('edgeml-examples-');
  fleetBroker = await startBroker();
  red = await startNodeRed({ userDir, flows: [] });
  await openComms();
  knownTypes = new Set((await red.nodes()).filter((set) => set.enabled && !set.err).flatMap((set) => set.types));
});

after(async () => {
  comms?.close();
  await red?.stop();
  await fleetBroker?.stop();
  await new Promise<void>((resolve) => (plc ? plc.close(() => resolve()) : resolve()));
  if (userDir) rmSync(userDir, { recursive: true, force: true });
});

describe('example flows in a real Node-RED', () => {
  it('finds the examples, and every node type of the package is used by at least one', () => {
    for (const required of ['classic-modbus-onnx-mqtt.json', 'plc-polling-writeback.json', 'dashboard.json', 'sqlite-and-http.json', 'fleet-dashboard.json']) {
      assert.ok(examples.has(required), `examples/${required} is missing`);
    }
    const used = new Set([...examples.values()].flat().map((n) => n.type));
    const unused = Object.keys(declaredNodes()).filter((type) => !used.has(type));
    assert.deepEqual(unused, [], `node types in no example: ${unused.join(', ')}`);
  });

  it('every example is one tab with a comment and a Catch node, and all its wires lead to its own nodes', () => {
    // a debug node shows the result (a property), not the whole message collapsed
    for (const [file, flow] of examples) {
      for (const d of flow.filter((n) => n.type === 'debug')) assert.notEqual(d.complete, 'true', `${file}: debug ${String(d.name ?? d.id)} shows the whole msg`);
    }
    for (const [file, flow] of examples) {
      const ids = new Set(flow.map((n) => n.id));
      assert.equal(ids.size, flow.length, `${file}: duplicate ids`);
      const tabs = flow.filter((n) => n.type === 'tab');
      assert.ok(tabs.length <= 1, `${file}: more than one tab`);
      if (!['classic-modbus-onnx-mqtt.json', 'plc-polling-writeback.json', 'dashboard.json', 'sqlite-and-http.json', 'fleet-dashboard.json', 'modbus-server-in.json'].includes(file)) continue;
      assert.equal(tabs.length, 1, `${file}: no tab`);
      assert.ok(
        flow.some((n) => n.type === 'comment'),
        `${file}: no comment node`,
      );
      assert.ok(
        flow.some((n) => n.type === 'catch'),
        `${file}: no Catch node`,
      );
      for (const node of flow) {
        if (node.z !== undefined) assert.equal(node.z, tabs[0]!.id, `${file}: ${node.id} is not on the tab`);
        for (const target of ((node.wires as string[][] | undefined) ?? []).flat()) assert.ok(ids.has(target), `${file}: ${node.id} is wired to a missing node ${target}`);
      }
    }
  });

  for (const file of exampleFiles) {
    it(`${file}: every node type is installed, it deploys, GET /flows returns it, and nothing logs an error`, async () => {
      const flow = await forThisTest(examples.get(file)!, file);
      const missing = [...new Set(flow.map((n) => n.type))].filter((type) => !STRUCTURAL.has(type) && !type.startsWith('subflow:') && !knownTypes.has(type));
      assert.deepEqual(missing, [], `${file}: unknown node types (GET /nodes): ${missing.join(', ')}`);

      const from = red.log().length;
      statuses.clear();
      debugMessages.length = 0;
      await red.deploy(flow, 'full');
      assert.doesNotMatch(red.log().slice(from), /Waiting for missing types/);
      assert.deepEqual(byId(await red.flows()), byId(flow));

      // Model nodes load asynchronously: wait until each has loaded (or failed) before judging.
      const modelUsers = flow.filter((n) => n.type === 'onnx-infer').map((n) => n.id);
      await settled(modelUsers);
      for (const id of modelUsers) assert.notEqual(statuses.get(id)?.fill, 'red', `${file}: ${id} ${JSON.stringify(statuses.get(id))}`);

      if (file === 'plc-polling-writeback.json') await checkPlcWriteback();
      if (file === 'sqlite-and-http.json') await checkHttpAndSqlite();
      if (file === 'fleet-dashboard.json') await checkFleetDashboard(flow);
      // Errors a Catch node handled are not logged; they reach the debug nodes the Catch nodes feed.
      const catchSinks = new Set(flow.filter((n) => n.type === 'catch').flatMap((n) => ((n.wires as string[][] | undefined) ?? []).flat()));
      const caught = (): CommsEvent['data'][] => debugMessages.filter((m) => m.id !== undefined && catchSinks.has(m.id));
      if (file === 'sqlite-and-http.json') {
        // The bad request the test sent: its error shows in the sidebar too, with its code.
        await until(() => caught().length >= 1, 'the bad request to reach the error debug node');
        assert.match(caught()[0]?.msg ?? '', /EDGEML_ONNX_STRING_IN_NUMERIC/);
        assert.equal(caught().length, 1, `${file}: errors reached its Catch nodes: ${JSON.stringify(caught())}`);
      } else {
        assert.deepEqual(caught(), [], `${file}: errors reached its Catch nodes`);
      }
      // The next deploy stops this flow: its close must not log errors either.
      await red.deploy([], 'full');
      assert.deepEqual(errorLines(red.log().slice(from)), [], `${file} logged errors:\n${red.log().slice(from)}`);
    });
  }
});

/** Reference prediction for one reading: onnxruntime-node directly, with the card's scaler applied in the test. */
async function reference(reading: number[]): Promise<{ label: number; anomaly: number }> {
  const want = await pumpReference([reading]);
  return { label: want.labels[0]!, anomaly: want.anomalyScores[0]! };
}

/** The PLC example polls registers 0..9 of the test's server and writes class and score to 100..102. */
async function checkPlcWriteback(): Promise<void> {
  const reading = PLC_READING;
  const seen = new Set<number>();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`registers 100..102 were not written within 30 s:\n${red.tail()}`)), 30000);
    onWrite = (addr) => {
      seen.add(addr);
      if (seen.has(100) && seen.has(101) && seen.has(102)) {
        clearTimeout(timer);
        onWrite = undefined;
        resolve();
      }
    };
  });
  const expected = await reference(reading);
  assert.equal(holding[100], expected.label, `class index (labels ${card.labels?.join(', ')})`);
  const score = cdabToFloat(holding[101]!, holding[102]!);
  assert.ok(Math.abs(score - expected.anomaly) <= 1e-5 * Math.max(1, Math.abs(expected.anomaly)), `anomaly score ${score}, expected ${expected.anomaly}`);
}

/** The fleet dashboard example: a device report the test publishes (retained) makes a row of its table. */
async function checkFleetDashboard(flow: FlowNode[]): Promise<void> {
  const table = flow.find((n) => n.type === 'function' && ((n.wires as string[][])[0] ?? []).some((id) => flow.find((m) => m.id === id)?.type === 'ui-table'))!;
  const client = await mqtt.connectAsync(fleetBroker!.url);
  try {
    const ts = new Date().toISOString();
    const model = { name: 'pump', version: '1.2.3', sha256: 'a'.repeat(64), since: ts, inferences: 10, errors: 0, inferencesPerMinute: 10, latencyMs: { p50: 1, p99: 2 } };
    await client.publishAsync('edge-ml/status/example-device/model', JSON.stringify({ device: 'example-device', ts, groups: ['line-1'], model, guard: {}, drift: {} }), { qos: 1, retain: true });
    await until(() => statuses.get(table.id)?.text === '1 device', 'the fleet table to show the device the test published');
    await client.publishAsync('edge-ml/status/example-device/model', '', { qos: 1, retain: true });
  } finally {
    await client.endAsync();
  }
}

/** POST /edge-ml/predict: a good reading is answered and logged, a bad one gets 400 with a code. */
async function checkHttpAndSqlite(): Promise<void> {
  const dbFile = path.join(userDir, 'edge-ml-predictions.db');
  const good = Object.fromEntries(FEATURES.map((name, i) => [name, [98.4, 4.3, 27.1, 2.0, 49.5][i]]));
  await waitForTable(dbFile);
  const first = await post('/edge-ml/predict', good);
  assert.equal(first.status, 200, JSON.stringify(first.json));
  const before = await rowCount(dbFile);

  const answer = await post('/edge-ml/predict', good);
  assert.equal(answer.status, 200, JSON.stringify(answer.json));
  assert.ok(card.labels?.includes(answer.json.label as string), `label ${String(answer.json.label)} is not one of ${card.labels?.join(', ')}`);
  const expected = await reference(FEATURES.map((name) => good[name] as number));
  assert.equal(answer.json.label, card.labels![expected.label]);
  assert.equal(typeof answer.json.anomaly_score, 'number');

  const bad = await post('/edge-ml/predict', { ...good, [FEATURES[1]!]: 'NaN-ish' });
  assert.equal(bad.status, 400, JSON.stringify(bad.json));
  const error = bad.json.error as { code?: string } | undefined;
  assert.match(error?.code ?? '', /^EDGEML_[A-Z_]+$/, JSON.stringify(bad.json));

  // The flow keeps working after the bad request, and answered requests are in the table.
  const again = await post('/edge-ml/predict', good);
  assert.equal(again.status, 200, JSON.stringify(again.json));
  assert.equal(await rowCount(dbFile), before + 2);
}
