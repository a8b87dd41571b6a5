/**
 * Latency from a master's write request to the decoded message in the flow:
 *   event-driven: master FC16 -> modbus-server-in -> modbus-decode
 *   polled baseline: master FC16 -> node-red-contrib-modbus 5.23.3 Modbus-Server, read by an inject
 *   node every 100 ms (its memory on output 1) -> modbus-decode
 * Both run in the same Node-RED runtime in the same run, with the same master (modbus-serial),
 * the same field table and writes at random phases (so the baseline is not locked to its poll).
 */
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import ModbusRTU from 'modbus-serial';
import type { Node } from 'node-red';
import { helper, ROOT, coreNode } from '../test/helpers/flow';
import { freePort, waitForPort } from '../test/helpers/net';
import { percentile, writeResults } from './util';

const FIELDS = [
  { name: 'seq', register: 0, type: 'uint16' },
  { name: 'value', register: 1, type: 'float32' },
];

function registers(seq: number, value: number): number[] {
  const b = Buffer.alloc(4);
  b.writeFloatBE(value);
  return [seq, b.readUInt16BE(2), b.readUInt16BE(0)]; // CDAB
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Writes `samples` times and measures until the decoded message with that sequence number arrives. */
async function measure(port: number, sink: Node, samples: number): Promise<number[]> {
  const client = new ModbusRTU();
  await client.connectTCP('127.0.0.1', { port });
  client.setID(1);
  client.setTimeout(5000);
  const waiting = new Map<number, (t: number) => void>();
  const onInput = (msg: object): void => {
    const seq = (msg as { payload?: { seq?: number } }).payload?.seq;
    if (seq !== undefined) waiting.get(seq)?.(performance.now());
  };
  sink.on('input', onInput);
  const latencies: number[] = [];
  try {
    for (let i = 1; i <= samples; i++) {
      await pause(Math.random() * 100); // a random phase against the 100 ms poll
      const seq = i & 0xffff;
      const arrived = new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`sample ${i} never arrived`)), 5000);
        waiting.set(seq, (t) => {
          clearTimeout(timer);
          waiting.delete(seq);
          resolve(t);
        });
      });
      const t0 = performance.now();
      await client.writeRegisters(0, registers(seq, i * 0.5));
      latencies.push((await arrived) - t0);
    }
  } finally {
    sink.removeListener('input', onInput);
    await new Promise<void>((r) => client.close(() => r()));
  }
  return latencies.sort((a, b) => a - b);
}

function summary(sorted: number[]): { p50Ms: number; p99Ms: number; meanMs: number; samples: number } {
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  return {
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    meanMs: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
    samples: sorted.length,
  };
}

export async function run(): Promise<void> {
  const SAMPLES = 200;
  const ours = await freePort();
  const theirs = await freePort();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const serverIn = require(path.join(ROOT, 'nodes', 'modbus-server-in.js'));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const decode = require(path.join(ROOT, 'nodes', 'modbus-decode.js'));
  let contribServer: unknown;
  let contribProblem: string | undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    contribServer = require('node-red-contrib-modbus/modbus/modbus-server.js');
  } catch (e) {
    contribProblem = `node-red-contrib-modbus Modbus-Server does not load: ${(e as Error).message}`;
  }
  const flow = [
    { id: 'tab', type: 'tab' },
    { id: 'in', z: 'tab', type: 'modbus-server-in', host: '127.0.0.1', port: String(ours), unitId: '1', wires: [['decIn']] },
    { id: 'decIn', z: 'tab', type: 'modbus-decode', order: 'CDAB', fields: FIELDS, wires: [['sinkIn']] },
    { id: 'sinkIn', z: 'tab', type: 'helper' },
    ...(contribServer
      ? [
          { id: 'poll', z: 'tab', type: 'inject', repeat: '0.1', once: false, payload: '', payloadType: 'date', wires: [['srv']] },
          {
            id: 'srv',
            z: 'tab',
            type: 'modbus-server',
            hostname: '127.0.0.1',
            serverPort: String(theirs),
            responseDelay: 1,
            delayUnit: 'ms',
            coilsBufferSize: 16,
            holdingBufferSize: 16,
            inputBufferSize: 16,
            discreteBufferSize: 16,
            showErrors: false,
            logEnabled: false,
            wires: [['decTheirs'], [], [], [], []],
          },
          { id: 'decTheirs', z: 'tab', type: 'modbus-decode', order: 'CDAB', fields: FIELDS, wires: [['sinkTheirs']] },
          { id: 'sinkTheirs', z: 'tab', type: 'helper' },
        ]
      : []),
  ];
  const injectNode = coreNode('common/20-inject.js');
  await helper.load([serverIn, decode, injectNode, ...(contribServer ? [contribServer] : [])], flow);
  try {
    // both servers listen once their ports accept connections
    await waitForPort(ours);
    if (contribServer) await waitForPort(theirs);
    const event = await measure(ours, helper.getNode('sinkIn') as Node, SAMPLES);
    let polled: number[] | undefined;
    if (contribServer) {
      try {
        polled = await measure(theirs, helper.getNode('sinkTheirs') as Node, Math.round(SAMPLES / 2));
      } catch (e) {
        contribProblem = `node-red-contrib-modbus Modbus-Server path failed: ${(e as Error).message}`;
      }
    }
    const section = {
      what: "ms from a master's FC16 write request to the decoded message in the flow (modbus-decode output), same runtime, same master",
      eventDriven: { path: 'modbus-server-in -> modbus-decode', ...summary(event) },
      polledBaseline: polled ? { path: 'node-red-contrib-modbus 5.23.3 Modbus-Server + inject every 100 ms -> modbus-decode', ...summary(polled) } : { unavailable: contribProblem },
      ...(polled ? { p50Ratio: Math.round((percentile(polled, 50) / percentile(event, 50)) * 10) / 10, p99Ratio: Math.round((percentile(polled, 99) / percentile(event, 99)) * 10) / 10 } : {}),
    };
    const file = writeResults('modbus.json', 'serverLatency', section);
    console.log(JSON.stringify(section, null, 2));
    console.log(`bench: wrote ${file}`);
  } finally {
    await helper.unload();
  }
}
