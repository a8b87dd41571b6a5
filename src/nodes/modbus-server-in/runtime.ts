/**
 * modbus-server-in: a Modbus TCP server that sends a message the moment a master writes.
 * Protocol, memory, allow-list and frame assembly live in src/lib/modbus-server; this file wires
 * them to Node-RED: write events -> messages, input messages -> memory, status, close.
 */
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import type { ModbusServerOutput, ModbusWriteInfo } from '../../lib/contracts';
import { EdgeMlError } from '../../lib/errors';
import {
  type FrameOptions,
  type FrameReason,
  type MemoryArea,
  type WriteEvent,
  FrameAssembler,
  ModbusMemory,
  ModbusTcpServer,
  checkFrameOptions,
  compileAllowList,
  isMemoryArea,
  parseFlowWrite,
} from '../../lib/modbus-server';
import { onInput, setStatus, statusWords, toNodeError, noteActivity } from '../shared/runtime';
import { numericSetting, type SettingOf } from '../../lib/config-ranges';
import { resolveConfig } from '../shared/config';
import { MODBUS_SERVER_IN_CONFIG, type ModbusServerInConfig } from './config';

/** The saved config, migrated and completed by resolveConfig (./config.ts declares it). */
type ModbusServerInDef = NodeDef & ModbusServerInConfig;

/** What the node sends: msg.modbus for this package, msg.modbusRequest as node-red-contrib-modbus shapes it. */
function writeMessage(
  payload: number[] | boolean[],
  event: Pick<WriteEvent, 'fc' | 'unitId' | 'client' | 'area'>,
  address: number,
  quantity: number,
  topic: string,
  frame?: { reason: FrameReason; writes: number },
): NodeMessage {
  const modbus: ModbusWriteInfo = { fc: event.fc, unitId: event.unitId, address, quantity, area: event.area, client: { ...event.client } };
  if (frame) modbus.frame = frame;
  const msg: ModbusServerOutput = {
    payload,
    modbus,
    modbusRequest: { unitid: event.unitId, fc: event.fc, address, quantity },
  };
  if (topic) msg.topic = topic;
  return msg as NodeMessage;
}

/** The node as others see it: `boundPort` is the TCP port it listens on once started. */
type ModbusServerInNode = Node & { boundPort?: number };

export = function (RED: NodeAPI): void {
  function ModbusServerInNode(this: Node, saved: NodeDef): void {
    RED.nodes.createNode(this, saved);
    const config: ModbusServerInDef = resolveConfig(MODBUS_SERVER_IN_CONFIG, saved);
    const node = this;
    const topic = config.topic ?? '';
    let server: ModbusTcpServer | undefined;
    let assembler: FrameAssembler | undefined;
    let memory: ModbusMemory;
    let writeArea: MemoryArea = 'holding';
    let writeAddress: number | undefined;
    let statusTimer: ReturnType<typeof setInterval> | undefined;
    let writesInWindow = 0;
    let lastStatus = '';
    const warnedRefusals = new Set<string>();
    let configError: EdgeMlError | undefined;

    const showReady = (): void => {
      if (!server) return;
      const params = { clients: server.connectionCount, writes: writesInWindow, port: server.port };
      const key = writesInWindow > 0 ? 'modbus-server-in.status.busy' : 'modbus-server-in.status.ready';
      const text = `${key}|${params.clients}|${params.writes}`;
      if (text === lastStatus) return;
      lastStatus = text;
      setStatus(RED, node, 'ready', key, params);
    };

    try {
      const setting = (field: SettingOf<'modbus-server-in'>, v: unknown, fallback?: number): number | undefined => numericSetting('modbus-server-in', field, v, fallback);
      memory = new ModbusMemory({
        holding: setting('holdingSize', config.holdingSize, 1024)!,
        input: setting('inputSize', config.inputSize, 1024)!,
        coils: setting('coilsSize', config.coilsSize, 1024)!,
        discrete: setting('discreteSize', config.discreteSize, 1024)!,
      });
      writeArea = isMemoryArea(config.writeArea) ? config.writeArea : 'holding';
      writeAddress = setting('writeAddress', config.writeAddress);
      const host = String(config.host ?? '').trim() || '127.0.0.1';
      const port = setting('port', config.port, 10502)!;
      const unitId = setting('unitId', config.unitId, 1)!;
      const allow = compileAllowList(config.allowList);
      const maxConnections = setting('maxConnections', config.maxConnections, 8)!;
      const idleTimeoutMs = setting('idleTimeout', config.idleTimeout, 0)! * 1000;
      if (config.mode === 'frame') {
        const trigger = setting('frameTrigger', config.frameTrigger);
        const frame: FrameOptions = {
          start: setting('frameStart', config.frameStart, 0)!,
          length: setting('frameLength', config.frameLength, 10)!,
          ...(trigger === undefined ? {} : { trigger }),
          whenAllWritten: config.frameAllWritten === true,
          quietMs: setting('frameQuiet', config.frameQuiet, 0)!,
        };
        checkFrameOptions(frame, memory.size('holding'));
        assembler = new FrameAssembler(frame, () => emitFrame('quiet'));
      }
      server = new ModbusTcpServer({ host, port, unitId, memory, allow, maxConnections, idleTimeoutMs });
    } catch (e) {
      memory ??= new ModbusMemory({ holding: 0, input: 0, coils: 0, discrete: 0 });
      const err = toNodeError(RED, e);
      configError = err;
      node.error(err.message);
      setStatus(RED, node, 'error', 'modbus-server-in.status.config-error');
    }

    let lastFrameWrite: WriteEvent | undefined;
    function emitFrame(reason: FrameReason): void {
      if (!assembler || !lastFrameWrite) return;
      const { start, length } = assembler.options;
      const writes = assembler.pendingWrites;
      assembler.reset();
      node.send(writeMessage(memory.readRegisters('holding', start, length), lastFrameWrite, start, length, topic, { reason, writes }));
    }

    if (server) {
      const s = server;
      setStatus(RED, node, 'loading', 'modbus-server-in.status.starting');
      s.on('write', (event) => {
        writesInWindow++;
        noteActivity(); // the master has its answer: a closing flow lets this write through first
        if (assembler && event.area === 'holding') {
          const outcome = assembler.noteWrite(event.address, event.quantity);
          if (outcome.belongs) {
            lastFrameWrite = event;
            if (outcome.reason) emitFrame(outcome.reason);
            return;
          }
        }
        // a copy: the event's array must not be shared with later messages or memory
        node.send(writeMessage(event.values.slice() as number[] | boolean[], event, event.address, event.quantity, topic));
      });
      s.on('connections', showReady);
      s.on('refused', (client, reason) => {
        const key = `${client.address}|${reason}`;
        if (warnedRefusals.has(key) || warnedRefusals.size > 100) return; // one warning per client, bounded
        warnedRefusals.add(key);
        node.warn(RED._(`modbus-server-in.warn.refused-${reason}`, { client: client.address }));
      });
      s.start().then(
        (port) => {
          // port 0 binds an ephemeral port: the status shows it, and so do node.boundPort and a
          // 'listening' event (for flows and tests that start the server on 0)
          (node as ModbusServerInNode).boundPort = port;
          node.emit('listening', port);
          lastStatus = '';
          showReady();
          // writes per second: one window per second; the timer must not keep the process alive
          statusTimer = setInterval(() => {
            showReady();
            writesInWindow = 0;
          }, 1000);
          statusTimer.unref();
        },
        (e: unknown) => {
          const err = toNodeError(RED, e);
          node.error(err.message);
          setStatus(RED, node, 'error', 'modbus-server-in.status.listen-error', { reason: statusWords(RED, String(err.params.reason ?? err.code)) });
        },
      );
    }

    onInput(RED, node, (msg) => {
      if (configError) throw configError; // nothing written into a server that is not running
      const write = parseFlowWrite(msg as unknown as Record<string, unknown>, { area: writeArea, ...(writeAddress === undefined ? {} : { address: writeAddress }) });
      memory.writeFromFlow(write.area, write.address, write.values);
    });

    // On close the server stops taking requests at once (listener and connections closed), so no
    // write is answered after this; the writes already answered are in the flow and pass the
    // package's nodes after this one, which close only once the flow is quiet (whenQuiet).
    node.on('close', (_removed: boolean, done: () => void) => {
      if (statusTimer) clearInterval(statusTimer);
      assembler?.dispose();
      const closing = server ? server.close() : Promise.resolve();
      server?.removeAllListeners();
      closing.then(() => done(), () => done());
    });
  }
  RED.nodes.registerType('modbus-server-in', ModbusServerInNode);
};
