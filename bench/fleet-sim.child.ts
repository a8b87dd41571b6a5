/**
 * One process of simulated devices for the fleet bench and its CI-sized test: fleetcore's
 * FleetSimulator (the package's real UpdateReceiver, store and manifest checks, each received model
 * validated with ONNX Runtime once per file in this process, synthetic inference figures by the
 * model's edgeml.sim profile). Started with fork(this, [json options]); answers 'updates' with what
 * each device reported per model sha256 and what it serves; exits on 'stop'.
 */
import { FleetSimulator } from '../src/lib/fleet/simulator';

interface Options {
  url: string;
  ids: string[];
  storeRoot: string;
  reportMs: number;
}

async function main(): Promise<void> {
  const o = JSON.parse(process.argv[2]!) as Options;
  const sim = await FleetSimulator.start({ brokerUrl: o.url, devices: o.ids, storeRoot: o.storeRoot, reportMs: o.reportMs, stallMs: 60_000 });
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'updates') {
      const devices = Object.fromEntries(sim.devices.map((d) => [d.id, { serving: d.serving.sha256, seen: [...new Set(d.statuses.map((s) => `${s.sha256}:${s.state}`))] }]));
      process.send!({ devices, loads: sim.validator.loads });
    } else if (m.cmd === 'stop') {
      void sim.stop().then(() => process.exit(0));
    }
  });
  process.send!({ ready: sim.devices.length });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
