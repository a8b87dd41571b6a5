/** Worker thread entry: the pure-JS image pipeline (see src/lib/image/worker.ts). */
import { parentPort } from 'node:worker_threads';
import { serveImageWorker } from '../../lib/image/worker';

if (!parentPort) throw new Error('decode.worker must run in a worker thread');
serveImageWorker(parentPort);
