/**
 * The classic example flow made ready to run in a given place: the Modbus server's and the MQTT
 * broker's addresses patched in, and a Node-RED user directory in which this package is installed
 * (a link to the project, as `npm install <folder>` would make). Shared by the demo
 * (scripts/demo.ts), the end-to-end tests (test/e2e.test.ts) and the end-to-end benchmark.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..');
export const PACKAGE_NAME = 'node-red-contrib-edge-ml';
export const CLASSIC_EXAMPLE = path.join(ROOT, 'examples', 'classic-modbus-onnx-mqtt.json');
export const DEMO_MODEL = path.join(ROOT, 'models', 'pump-classifier.onnx');
/** What the classic flow's ml-format node publishes to (its template with the demo model's name). */
export const PREDICTION_FILTER = 'plant/pump-1/+/prediction';
export const REJECTED_TOPIC = 'plant/pump-1/rejected';

export interface ClassicFlowOptions {
  modbusHost?: string;
  modbusPort: number;
  mqttHost: string;
  mqttPort: number;
}

type FlowNode = Record<string, unknown> & { id: string; type: string };

/** The classic example with the given addresses; everything else as shipped. */
export function classicFlow(options: ClassicFlowOptions): FlowNode[] {
  const flow = JSON.parse(readFileSync(CLASSIC_EXAMPLE, 'utf8')) as FlowNode[];
  for (const node of flow) {
    if (node.type === 'modbus-server-in') {
      node.port = String(options.modbusPort);
      if (options.modbusHost) node.host = options.modbusHost;
    } else if (node.type === 'mqtt-broker') {
      node.broker = options.mqttHost;
      node.port = String(options.mqttPort);
    }
  }
  return flow;
}

/** Makes `userDir` a Node-RED user directory with this package installed (linked to the project). */
export function installIntoUserDir(userDir: string): void {
  const modules = path.join(userDir, 'node_modules');
  mkdirSync(modules, { recursive: true });
  const link = path.join(modules, PACKAGE_NAME);
  if (existsSync(link) || isDanglingLink(link)) rmSync(link, { recursive: false, force: true });
  symlinkSync(ROOT, link, 'dir');
  if (!existsSync(path.join(ROOT, 'nodes', 'onnx-infer.js'))) {
    throw new Error('nodes/ is not built: run `npm run build` first');
  }
}

function isDanglingLink(file: string): boolean {
  try {
    return lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}
