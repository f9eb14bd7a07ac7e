// Entry of the reconciler's thread (started by reconciler-thread.ts, which says why): the
// adapters and detection parts built afresh from the gateway's settings by compose.ts's builders,
// and a reconciler whose events go back to the request thread as messages.
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { createAdapters, createDetection, detectionSettings, inProcessReconciler } from './compose.js';
import type { Config } from './config.js';
import type { FromReconciler, ToReconciler } from './reconciler-thread.js';

const port = parentPort;
if (!port) throw new Error('reconciler-worker.ts runs as a worker thread of the gateway');
const config = workerData as Config; // validated by the request thread before it started this one
const log = pino({ level: config.LOG_LEVEL }).child({ thread: 'reconciler' });
const post = (message: FromReconciler) => port.postMessage(message);
const { reconciler } = createDetection(
  createAdapters(config),
  // GETs are answered on the request thread: no finished records kept here.
  { ...detectionSettings(config), finishedTasksKept: 0 },
  {
    finished: (record) => post({ kind: 'finished', record }),
    retried: (record, reason) => post({ kind: 'retried', record, reason }),
    queueDepth: (depth) => post({ kind: 'counted', depth }),
  },
  log,
  inProcessReconciler,
);

port.on('message', (message: ToReconciler) => {
  switch (message.kind) {
    case 'track': {
      const { image } = message;
      return reconciler.track(
        message.task,
        image && Buffer.from(image.buffer, image.byteOffset, image.byteLength),
      );
    }
    case 'forget':
      return reconciler.forget(message.taskId);
    case 'advance': {
      const { question, taskId } = message;
      return void reconciler
        .advanceTracked(taskId, message.budgetMs)
        .then((record) => post({ kind: 'advanced', question, taskId, record }));
    }
    case 'stop':
      // process.exit in a worker ends the thread, not the process; sockets would keep it alive.
      return void reconciler.stop().finally(() => process.exit(0));
  }
});
reconciler.start();
