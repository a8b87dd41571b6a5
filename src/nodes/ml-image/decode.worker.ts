/** Worker thread entry: ml-image's batches and ml-format's annotated JPEG (see src/lib/image/worker.ts). */
import { parentPort, workerData } from 'node:worker_threads';
import { serveImageWorker, type ImageWorkerSetup } from '../../lib/image/worker';

if (!parentPort) throw new Error('decode.worker must run in a worker thread');
serveImageWorker(parentPort, workerData as ImageWorkerSetup);
