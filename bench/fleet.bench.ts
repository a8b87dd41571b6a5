/**
 * `npm run bench fleet` -> bench/results/fleet.json: a 1 MB and a 10 MB model rolled out to 1,000
 * simulated devices (4 processes) in 4 waves (1 %, 10 %, 50 %, 100 % cumulative) through a real
 * mosquitto. Per rollout: time per wave and in total, bytes the broker received and sent (against
 * the model size and devices x model size: the baselines of the same run), peak RSS of the broker
 * and of the publisher (against the same publisher process idle). Bounded: each wave times out
 * after 5 minutes, the fleet is fixed at EDGEML_FLEET_BENCH_DEVICES (default 1000).
 */
import { runFleetBench } from './fleet';
import { writeResults } from './util';

export async function run(): Promise<void> {
  const devices = Number(process.env.EDGEML_FLEET_BENCH_DEVICES) || 1000;
  const result = await runFleetBench({
    devices,
    processes: 4,
    sizes: [1_000_000, 10_000_000],
    waves: [0.01, 0.1, 0.5, 1],
    waveTimeoutMs: 300_000,
    log: (line) => console.log(`  ${line}`),
  });
  const bad = result.rollouts.some((r) => r.serving !== devices || r.waves.some((w) => w.rejected > 0));
  if (bad) throw new Error(`not every device took the model: ${JSON.stringify(result.rollouts.map((r) => r.serving))}`);
  const file = writeResults('fleet.json', 'rollout', result);
  console.log(`  -> ${file}`);
}
