/**
 * edge-ml-publish: pushes a model file to edge devices over MQTT and waits for their reports.
 *
 *   edge-ml-publish --broker mqtt://host:1883 --file model.onnx --name pump --version 2.0.0 \
 *       --target line-1 [--target dev-7] [--wait dev-1,dev-2] [--key private.pem] [--chunk-size 65536]
 *   edge-ml-publish rollback --broker mqtt://host:1883 --device dev-1
 *   edge-ml-publish keygen --out ./keys          (writes edge-ml-private.pem and edge-ml-public.pem)
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { prepareUpdate, signManifest } from '../lib/update/manifest';
import { publishUpdate, sendRollback } from '../lib/update/publisher';
import { DEFAULT_PREFIX } from '../lib/update/topics';

const USAGE = `usage:
  edge-ml-publish --broker URL --file MODEL.onnx --name NAME --version VERSION --target ID|GROUP [--target ...]
                  [--wait DEVICE,DEVICE] [--key PRIVATE.pem] [--chunk-size BYTES] [--prefix edge-ml] [--timeout SECONDS]
                  [--username U --password P]
  edge-ml-publish rollback --broker URL --device ID [--prefix edge-ml]
  edge-ml-publish keygen --out DIR`;

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
      help: { type: 'boolean', short: 'h' },
    },
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
    if (command !== 'publish') throw new Error(`unknown command ${command}`);
    if (!values.file || !values.name || !values.version || !values.target?.length) throw new Error('--file, --name, --version and --target are required');
    const bytes = readFileSync(values.file);
    let { manifest, chunks } = prepareUpdate(bytes, {
      name: values.name,
      version: values.version,
      targets: values.target,
      ...(values['chunk-size'] ? { chunkSize: Number(values['chunk-size']) } : {}),
    });
    if (values.key) manifest = signManifest(manifest, readFileSync(values.key, 'utf8'));
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

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`edge-ml-publish: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    process.exit(1);
  },
);
