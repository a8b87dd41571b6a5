/**
 * The whole system on one machine, one command (`npm run demo`): an MQTT broker (mosquitto when
 * installed, else an embedded one), Node-RED 4 with this package and the classic example flow in
 * its own user directory (.demo/, not the user's ~/.node-red), and a simulated plant that writes
 * the pump's readings into the flow's Modbus server. Ctrl-C stops everything.
 *
 * Environment (all optional):
 *   EDGEML_DEMO_PORT     editor port (1880)          EDGEML_DEMO_HOST   editor address (127.0.0.1)
 *   EDGEML_DEMO_DIR      Node-RED user directory (.demo in the project)
 *   EDGEML_MODBUS_PORT   the flow's Modbus server port (5020)
 *   EDGEML_MQTT_URL      use this broker (mqtt://host:port) instead of starting one
 *   EDGEML_MQTT_PORT     port of the broker the demo starts (1883)
 *   EDGEML_PLANT_RATE    readings per second from the simulated plant (2)
 */
import path from 'node:path';
import { startBroker, type TestBroker } from '../test/helpers/broker';
import { isListening } from '../test/helpers/net';
import { startNodeRed, type NodeRedProcess } from '../test/helpers/nodered-process';
import { classicFlow, installIntoUserDir, PREDICTION_FILTER, REJECTED_TOPIC, ROOT } from './demo-setup';
import { PlantSimulator } from './plant-simulator';

const env = process.env;
const editorPort = Number(env.EDGEML_DEMO_PORT ?? 1880);
const editorHost = env.EDGEML_DEMO_HOST ?? '127.0.0.1';
const userDir = path.resolve(env.EDGEML_DEMO_DIR ?? path.join(ROOT, '.demo'));
const modbusPort = Number(env.EDGEML_MODBUS_PORT ?? 5020);
const rate = Number(env.EDGEML_PLANT_RATE ?? 2);

async function main(): Promise<void> {
  let broker: TestBroker | undefined;
  let red: NodeRedProcess | undefined;
  let plant: PlantSimulator | undefined;
  let stopping = false;
  const stop = async (code = 0): Promise<void> => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping the plant, Node-RED and the broker ...');
    await plant?.stop();
    await red?.stop();
    await broker?.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());

  try {
    let mqttHost = '127.0.0.1';
    let mqttPort = Number(env.EDGEML_MQTT_PORT ?? 1883);
    let brokerNote: string;
    if (env.EDGEML_MQTT_URL) {
      const url = new URL(env.EDGEML_MQTT_URL);
      mqttHost = url.hostname;
      mqttPort = Number(url.port || 1883);
      brokerNote = `using the broker at ${env.EDGEML_MQTT_URL}`;
    } else if (await isListening(mqttPort)) {
      brokerNote = `a broker already listens on 127.0.0.1:${mqttPort}: using it`;
    } else {
      broker = await startBroker({ port: mqttPort });
      brokerNote = `started ${broker.kind === 'mosquitto' ? 'mosquitto' : 'the embedded broker (aedes; install mosquitto to use it instead)'} on 127.0.0.1:${mqttPort}`;
    }
    console.log(`MQTT: ${brokerNote}`);

    installIntoUserDir(userDir);
    console.log(`Node-RED: starting with user directory ${userDir} ...`);
    red = await startNodeRed({
      userDir,
      port: editorPort,
      flows: classicFlow({ modbusPort, mqttHost, mqttPort }),
      settings: { uiHost: editorHost, mqttReconnectTime: 2000 },
      startTimeoutMs: 120000,
    });
    red.child.stdout?.on('data', (chunk: Buffer) => process.stdout.write(chunk.toString().replace(/^(?=.)/gm, '  [node-red] ')));

    plant = new PlantSimulator({ port: modbusPort, rate, onError: (e) => console.error(`  [plant] ${e.message} (retrying)`) });
    plant.start();

    const mqttUrl = `mqtt://${mqttHost}:${mqttPort}`;
    console.log(`
  Node-RED editor     http://${editorHost === '0.0.0.0' ? '127.0.0.1' : editorHost}:${editorPort}/
  Modbus TCP server   127.0.0.1:${modbusPort} (unit 1, holding registers 0..9, float32 CDAB), fed ${rate}×/s by the simulated plant
  Predictions         ${mqttUrl}  topic ${PREDICTION_FILTER}   (rejected readings: ${REJECTED_TOPIC})
  Watch them          node nodes/bin/edge-ml-monitor.js --broker ${mqttUrl} --topic '${PREDICTION_FILTER}'
                      mosquitto_sub -h ${mqttHost} -p ${mqttPort} -t 'plant/#' -v
  Stop                Ctrl-C
`);
  } catch (e) {
    console.error(`demo: ${(e as Error).message}`);
    await stop(1);
  }
}

void main();
