/**
 * `npm run bench fleet` -> bench/results/fleet.json: a 1 MB and a 10 MB model rolled out by the
 * rollout engine to 1,000 simulated devices (4 processes) in 4 waves (1 %, 10 %, 50 %, 100 %
 * cumulative, 6 s soak each, devices reporting every 5 s) through a real mosquitto, then a bad model halted at the canary.
 * Figures against baselines of the same run: broker bytes against the model size and devices x
 * model size (less the idle fleet's reporting), publisher peak RSS against the same process idle.
 * Bounded: waves time out (update 10 min, rollback 2 min), the fleet is EDGEML_FLEET_BENCH_DEVICES
 * (default 1000) devices.
 */
import { runFleetBench } from './fleet';
import { writeResults } from './util';

export async function run(): Promise<void> {
  const devices = Number(process.env.EDGEML_FLEET_BENCH_DEVICES) || 1000;
  const result = await runFleetBench({
    devices,
    processes: 4,
    sizes: [1_000_000, 10_000_000],
    waves: ['1%', '10%', '50%', '100%'],
    soakMs: 6000,
    reportMs: 5000,
    bad: true,
    log: (line) => console.log(`  ${line}`),
  });
  const file = writeResults('fleet.json', 'rollout', result);
  console.log(`  -> ${file}`);
  const wrong = result.rollouts.filter((r) => r.status !== 'completed' || r.serving !== devices);
  if (wrong.length) throw new Error(`a good rollout did not complete on every device: ${JSON.stringify(wrong.map((r) => [r.status, r.serving]))}`);
  if (result.badModel && (result.badModel.receivedBeyondCanary !== 0 || result.badModel.servingBad !== 0)) throw new Error(`the bad model went beyond the canary: ${JSON.stringify(result.badModel)}`);
}
