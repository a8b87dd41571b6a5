/**
 * edge-ml-publish: pushes a model file to edge devices over MQTT and waits for their reports.
 *
 *   edge-ml-publish --broker mqtt://host:1883 --file model.onnx --name pump --version 2.0.0 \
 *       --target line-1 [--target dev-7] [--wait dev-1,dev-2] [--key private.pem] [--chunk-size 65536]
 *   edge-ml-publish rollback --broker mqtt://host:1883 --device dev-1
 *   edge-ml-publish keygen --out ./keys          (writes edge-ml-private.pem and edge-ml-public.pem)
 *   edge-ml-publish rollout --broker URL --file model.onnx --name pump --version 2.0.0 \
 *       (--plan plan.json | --waves 1,10%,50%,100% --soak 60s) [--key private.pem] [--id ID]
 *   edge-ml-publish rollout status|pause|resume|abort --broker URL --id ID
 * (docs/fleet-rollout.md)
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { parsePlan, planFromFlags, parseDuration } from '../lib/fleet/plan';
import { clearRollout, engineAlive, readRollout, RolloutEngine, sendControl } from '../lib/fleet/rollout';
import { FINAL_STATUSES, type RolloutPlan, type RolloutState } from '../lib/fleet/rollout-state';
import { isEdgeMlError } from '../lib/errors';
import { prepareUpdate, signManifest } from '../lib/update/manifest';
import { publishUpdate, sendRollback } from '../lib/update/publisher';
import { DEFAULT_PREFIX } from '../lib/update/topics';

const USAGE = `usage:
  edge-ml-publish --broker URL --file MODEL.onnx --name NAME --version VERSION --target ID|GROUP [--target ...]
                  [--wait DEVICE,DEVICE] [--key PRIVATE.pem] [--chunk-size BYTES] [--prefix edge-ml] [--timeout SECONDS]
                  [--username U --password P]
  edge-ml-publish rollback --broker URL --device ID [--prefix edge-ml]
  edge-ml-publish keygen --out DIR
  edge-ml-publish rollout --broker URL --file MODEL.onnx --name NAME --version VERSION
                  (--plan PLAN.json | --waves 1,10%,50%,100% [--soak 60s] [--groups G,G] [--silent fail|skip])
                  [--key PRIVATE.pem] [--id ID] [--downgrade] [--expires 24h] [--chunk-size BYTES] [--prefix edge-ml]
  edge-ml-publish rollout status --broker URL --id ID [--json]
  edge-ml-publish rollout pause|abort --broker URL --id ID
  edge-ml-publish rollout resume --broker URL --id ID [--key PRIVATE.pem] [--file MODEL.onnx] [--takeover]
  edge-ml-publish rollout clear --broker URL --id ID     (an ended rollout: remove its retained chunks, manifests and state)
exit codes of rollout and resume: 0 completed, 3 halted by a gate, 4 aborted, 5 stopped by a signal (resumable)`;

async function main(argv: string[]): Promise<number> {
  const command = argv[0] && !argv[0].startsWith('-') ? argv[0] : 'publish';
  const { values } = parseArgs({
    args: command === 'publish' ? argv : argv.slice(1),
    options: {
      broker: { type: 'string' },
      file: { type: 'string' },
      name: { type: 'string' },
      version: { type: 'string' },
      target: { type: 'string', multiple: true },
      wait: { type: 'string' },
      key: { type: 'string' },
      'chunk-size': { type: 'string' },
      prefix: { type: 'string', default: DEFAULT_PREFIX },
      timeout: { type: 'string', default: '120' },
      device: { type: 'string' },
      out: { type: 'string' },
      username: { type: 'string' },
      password: { type: 'string' },
      plan: { type: 'string' },
      waves: { type: 'string' },
      soak: { type: 'string' },
      groups: { type: 'string' },
      silent: { type: 'string' },
      id: { type: 'string' },
      downgrade: { type: 'boolean' },
      expires: { type: 'string' },
      json: { type: 'boolean' },
      takeover: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: command === 'rollout',
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (command === 'keygen') {
    const dir = values.out ?? '.';
    mkdirSync(dir, { recursive: true });
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    writeFileSync(path.join(dir, 'edge-ml-private.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(path.join(dir, 'edge-ml-public.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    console.log(`wrote ${path.join(dir, 'edge-ml-private.pem')} (keep it secret) and ${path.join(dir, 'edge-ml-public.pem')} (paste into the devices)`);
    return 0;
  }
  if (!values.broker) throw new Error('--broker is required');
  const client = await mqtt.connectAsync(values.broker, {
    reconnectPeriod: 1000,
    ...(values.username ? { username: values.username, password: values.password ?? '' } : {}),
  });
  try {
    if (command === 'rollback') {
      if (!values.device) throw new Error('--device is required');
      await sendRollback(client, values.device, values.prefix);
      console.log(`rollback sent to ${values.device}`);
      return 0;
    }
    if (command === 'rollout') return await rollout(client, argv[1] && !argv[1].startsWith('-') ? argv[1] : 'start', values);
    if (command !== 'publish') throw new Error(`unknown command ${command}`);
    if (!values.file || !values.name || !values.version || !values.target?.length) throw new Error('--file, --name, --version and --target are required');
    const bytes = readFileSync(values.file);
    const prepared = prepareUpdate(bytes, {
      name: values.name,
      version: values.version,
      targets: values.target,
      ...(values['chunk-size'] ? { chunkSize: Number(values['chunk-size']) } : {}),
    });
    const { chunks } = prepared;
    const manifest = values.key ? signManifest(prepared.manifest, readFileSync(values.key, 'utf8')) : prepared.manifest;
    const waitFor = values.wait ? values.wait.split(',').filter(Boolean) : [];
    console.log(`publishing ${values.name} ${values.version} (${bytes.length} bytes, ${chunks.length} chunks, sha256 ${manifest.sha256})`);
    const result = await publishUpdate({
      client,
      manifest,
      chunks,
      targets: values.target,
      waitFor,
      prefix: values.prefix,
      timeoutMs: Number(values.timeout) * 1000,
      onStatus: (s) => console.log(`${s.device}: ${s.state}${s.code ? ` ${s.code}` : ''}${s.reason ? ` (${s.reason})` : ''}`),
    });
    for (const r of result.rejected) console.error(`${r.device}: rejected ${r.code ?? ''} ${r.reason ?? ''}`);
    console.log(`active on ${result.active.length} of ${waitFor.length} awaited devices`);
    return result.rejected.length ? 2 : 0;
  } finally {
    await client.endAsync();
  }
}

interface RolloutFlags {
  file?: string | undefined;
  name?: string | undefined;
  version?: string | undefined;
  key?: string | undefined;
  prefix?: string | undefined;
  'chunk-size'?: string | undefined;
  plan?: string | undefined;
  waves?: string | undefined;
  soak?: string | undefined;
  groups?: string | undefined;
  silent?: string | undefined;
  id?: string | undefined;
  downgrade?: boolean | undefined;
  expires?: string | undefined;
  json?: boolean | undefined;
  takeover?: boolean | undefined;
}

const ROLLOUT_EXIT: Record<string, number> = { completed: 0, halted: 3, aborted: 4 };

function summary(s: RolloutState): string {
  const lines = [`rollout ${s.id}: ${s.model.name} ${s.model.version} ${s.status}, wave ${s.wave + 1} of ${s.waves.length}`];
  for (const w of s.waves) lines.push(`  ${w.name}: ${w.status} (${w.devices.length} devices${w.soakEndsAt && w.status === 'soaking' ? `, soak ends ${w.soakEndsAt}` : ''})`);
  for (const g of s.gates)
    lines.push(`  gate ${g.gate}: ${g.passed ? 'ok' : 'FAILED'} ${g.device} ${g.value ?? '-'} (limit ${g.threshold}${g.baseline !== undefined ? `, before ${g.baseline ?? '-'}` : ''})`);
  if (s.halt) lines.push(`  halted by ${s.halt.gate} on ${s.halt.devices.join(', ')}: ${s.halt.figures.map((f) => `${f.device} ${f.gate}=${f.value ?? '-'}`).join('; ')}`);
  const counts: Record<string, number> = {};
  for (const d of Object.values(s.devices)) counts[d.outcome] = (counts[d.outcome] ?? 0) + 1;
  lines.push(
    `  devices: ${Object.entries(counts)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ')}`,
  );
  return lines.join('\n');
}

async function rollout(client: mqtt.MqttClient, sub: string, v: RolloutFlags): Promise<number> {
  const prefix = v.prefix ?? DEFAULT_PREFIX;
  const privateKey = v.key ? readFileSync(v.key, 'utf8') : undefined;
  const host = {
    client,
    prefix,
    ...(privateKey ? { privateKey } : {}),
    log: (line: string) => console.log(line),
  };
  const drive = async (engine: RolloutEngine): Promise<number> => {
    const stop = (): void => engine.stop(); // the state stays retained: `rollout resume` goes on
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const final = await engine.run();
    console.log(summary(final));
    return ROLLOUT_EXIT[final.status] ?? 5;
  };
  if (sub === 'start') {
    if (!v.file || !v.name || !v.version) throw new Error('--file, --name and --version are required');
    if (!v.plan && !v.waves) throw new Error('--plan or --waves is required');
    let plan: RolloutPlan = v.plan
      ? parsePlan(JSON.parse(readFileSync(v.plan, 'utf8')))
      : planFromFlags({
          waves: v.waves!,
          ...(v.soak ? { soak: v.soak } : {}),
          ...(v.groups ? { groups: v.groups } : {}),
          ...(v.silent ? { silent: v.silent } : {}),
        });
    if (v.downgrade) plan = { ...plan, downgrade: true };
    if (v.expires) plan = { ...plan, expiresInMs: parseDuration(v.expires, '--expires') };
    if (v['chunk-size']) plan = { ...plan, chunkSize: Number(v['chunk-size']) };
    const engine = await RolloutEngine.start(host, { ...(v.id ? { id: v.id } : {}), bytes: readFileSync(v.file), name: v.name, version: v.version, plan });
    return drive(engine);
  }
  if (!v.id) throw new Error('--id is required');
  if (sub === 'status') {
    const state = await readRollout(client, v.id, prefix);
    if (!state) {
      console.error(`no rollout ${v.id} on the broker`);
      return 1;
    }
    console.log(v.json ? JSON.stringify(state, null, 2) : summary(state));
    return 0;
  }
  if (sub === 'pause' || sub === 'abort') {
    await sendControl(client, v.id, sub, prefix);
    const state = await readRollout(client, v.id, prefix);
    const running = state && !FINAL_STATUSES.includes(state.status) && engineAlive(state);
    console.log(
      running ? `${sub} sent to rollout ${v.id}` : `${sub} sent to rollout ${v.id}; no publisher drives it now: it takes effect when one resumes it (edge-ml-publish rollout resume --id ${v.id})`,
    );
    return 0;
  }
  if (sub === 'clear') {
    const state = await readRollout(client, v.id, prefix);
    if (!state) {
      console.error(`no rollout ${v.id} on the broker`);
      return 1;
    }
    if (!FINAL_STATUSES.includes(state.status)) throw new Error(`rollout ${v.id} is ${state.status}: abort it first`);
    await clearRollout(client, state, prefix);
    console.log(`cleared rollout ${v.id}: ${state.manifest.chunks} chunks, ${Object.keys(state.devices).length} manifests, its state`);
    return 0;
  }
  if (sub === 'resume') {
    const state = await readRollout(client, v.id, prefix);
    if (state && engineAlive(state) && !v.takeover) {
      await sendControl(client, v.id, 'resume', prefix);
      console.log(`resume sent to rollout ${v.id} (driven by ${state.engine!.host} pid ${state.engine!.pid})`);
      return 0;
    }
    if (state?.status === 'paused') await sendControl(client, v.id, 'resume', prefix);
    const engine = await RolloutEngine.resume(host, v.id, v.file ? readFileSync(v.file) : undefined);
    return drive(engine);
  }
  throw new Error(`unknown rollout command ${sub}`);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const code = isEdgeMlError(err) ? ` [${err.code}]` : '';
    console.error(`edge-ml-publish: ${err instanceof Error ? err.message : String(err)}${code}\n${USAGE}`);
    process.exit(1);
  },
);
