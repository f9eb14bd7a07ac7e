// The reconciler on a worker thread of its own. On the request thread its rounds (LIST pages of
// XML, task records, BentoML polls, and the garbage they make) held the event loop for tens of
// milliseconds at a time, and every POST that arrived meanwhile waited: that was the tail of POST
// latency. On a worker thread they have their own event loop and heap.
//
// The thread builds its own adapters and detection parts from the same settings, with compose.ts's
// builders (reconciler-worker.ts): to MinIO and BentoML it is one more gateway, which the If-Match
// writes already make safe beside this thread's GETs. Messages carry only what the two must
// share: tasks accepted here (with their bytes, for the first submission) and finished here, and a
// GET's question about a task the thread holds; back, the queue count of each listing, the tasks it
// finished or retried (for /metrics and the 429 check) and the answers to those questions.
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { RetryReason, TaskRecord } from './detection/dto.js';
import type { QueueDepth } from './detection/queue-depth.js';
import type { ReconcilerRunner } from './detection/reconciler.js';
import type { TaskEvents } from './detection/task-advancer.js';
import type { Versioned } from './detection/task-repository.js';
import { isTerminal } from './detection/task-state.js';

export type ToReconciler =
  | { kind: 'track'; task: Versioned; image?: Uint8Array }
  | { kind: 'forget'; taskId: string }
  | { kind: 'advance'; question: number; taskId: string; budgetMs: number }
  | { kind: 'stop' };

export type FromReconciler =
  | { kind: 'counted'; depth: number }
  | { kind: 'finished'; record: TaskRecord }
  | { kind: 'retried'; record: TaskRecord; reason: RetryReason }
  | { kind: 'advanced'; question: number; taskId: string; record: TaskRecord | undefined };

// The worker is the sibling module, as built (.js) or as source (.ts, run through tsx).
const extension = path.extname(fileURLToPath(import.meta.url));
const workerUrl = new URL(`./reconciler-worker${extension}`, import.meta.url);
// Node 20 does not hand a loader registered by `--import tsx` on to worker threads, so from source
// the thread registers tsx itself before it loads the worker module.
const workerEntry: { source: string | URL; eval: boolean } =
  extension === '.ts'
    ? {
        source: `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
          .then((tsx) => { tsx.register(); return import(${JSON.stringify(workerUrl.href)}); })`,
        eval: true,
      }
    : { source: workerUrl, eval: false };
/** A thread that dies is started again after this pause (tasks wait meanwhile, none is lost). */
const RESTART_DELAY_MS = 1_000;
/** A round stuck on an unresponsive peer must not hold a shutdown past this. */
const STOP_GRACE_MS = 4_000;
/** Tasks handed over and not known finished, at most (the oldest is forgotten first). */
const TRACKED_MAX = 10_000;

export class ReconcilerThread implements ReconcilerRunner {
  private worker: Worker | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  /** Tasks handed to the thread and not known finished: a GET asks the thread about these. */
  private readonly tracked = new Set<string>();
  /** GETs waiting for the thread's answer, by question number. */
  private readonly questions = new Map<number, (record: TaskRecord | undefined) => void>();
  private nextQuestion = 0;

  constructor(
    private readonly config: Config,
    /** The request thread's side: what the thread's messages update, and where its failures go. */
    private readonly parts: { queueDepth: QueueDepth; events: TaskEvents; log: Logger },
  ) {}

  start(): void {
    if (this.worker) return;
    this.stopping = false;
    this.spawn();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const worker = this.worker;
    if (!worker) return;
    const exited = once(worker, 'exit');
    this.send({ kind: 'stop' });
    const kill = setTimeout(() => void worker.terminate(), STOP_GRACE_MS);
    await exited;
    clearTimeout(kill);
  }

  /** Tasks handed over while the thread restarts are found by its first listing instead. */
  track(task: Versioned, image?: Buffer): void {
    this.tracked.add(task.record.task_id);
    if (this.tracked.size > TRACKED_MAX) this.tracked.delete(this.tracked.values().next().value as string);
    if (!image) return this.send({ kind: 'track', task });
    // A copy of just these bytes, moved rather than cloned (the Buffer may share a larger pool).
    const bytes = new Uint8Array(image);
    this.send({ kind: 'track', task, image: bytes }, [bytes.buffer]);
  }

  forget(taskId: string): void {
    this.tracked.delete(taskId);
    this.send({ kind: 'forget', taskId });
  }

  tracks(taskId: string): boolean {
    return this.worker !== undefined && this.tracked.has(taskId);
  }

  /** Asks the thread about a task handed to it; undefined at once for any other. */
  advanceTracked(taskId: string, budgetMs: number): Promise<TaskRecord | undefined> {
    if (!this.worker || !this.tracked.has(taskId)) return Promise.resolve(undefined);
    const question = this.nextQuestion++;
    return new Promise((resolve) => {
      this.questions.set(question, resolve);
      this.send({ kind: 'advance', question, taskId, budgetMs });
    });
  }

  private send(message: ToReconciler, transfer: ArrayBuffer[] = []): void {
    this.worker?.postMessage(message, transfer);
  }

  private spawn(): void {
    const worker = new Worker(workerEntry.source, { eval: workerEntry.eval, workerData: this.config });
    worker.on('message', (message: FromReconciler) => this.receive(message));
    worker.on('error', (err) => this.parts.log.error({ err: err.message }, 'reconciler thread failed'));
    worker.on('exit', (code) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      // Its questions will get no answer: those GETs read MinIO instead.
      for (const resolve of this.questions.values()) resolve(undefined);
      this.questions.clear();
      if (this.stopping) return;
      // Without it no task moves on: start it again.
      this.parts.log.error({ code }, `reconciler thread exited; starting it again in ${RESTART_DELAY_MS} ms`);
      this.restartTimer = setTimeout(() => this.spawn(), RESTART_DELAY_MS);
    });
    this.worker = worker;
  }

  private receive(message: FromReconciler): void {
    switch (message.kind) {
      case 'counted':
        return this.parts.queueDepth.observe(message.depth);
      case 'finished':
        this.tracked.delete(message.record.task_id);
        return this.parts.events.finished(message.record);
      case 'retried':
        return this.parts.events.retried(message.record, message.reason);
      case 'advanced': {
        const { record } = message;
        if (!record || isTerminal(record.status)) this.tracked.delete(message.taskId);
        this.questions.get(message.question)?.(record);
        this.questions.delete(message.question);
        return;
      }
    }
  }
}
