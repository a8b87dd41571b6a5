/** Worker thread entry: serves the model sessions (see src/lib/onnx/session-worker.ts). */
import { parentPort } from 'node:worker_threads';
import { serveSessionWorker } from '../../lib/onnx/session-worker';

if (!parentPort) throw new Error('session.worker must run in a worker thread');
serveSessionWorker(parentPort);
