// Runs the clone's Python trainer (`.stack/python -m mini_streamio.training --events=jsonl`)
// and turns its stdout into events. Its other output (Ultralytics' log) goes to a log file.
//
// Stopping: the trainer runs in its own process group, so a Ctrl-C in the terminal reaches
// only the CLI, which forwards exactly one SIGINT; the trainer then logs what it produced and
// ends its MLflow run KILLED. Should the CLI die instead, the trainer sees its standard input
// close (--stop-on-stdin-eof) and stops the same way.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import type { CliConfig } from '../config.js';
import type { TrainerEventName } from '../contracts.js';
import { repoRoot, stackPython } from '../paths.js';

/** The names of contracts/trainer-event.schema.json, generated from it (lib/contracts.generated.ts). */
export type { TrainerEventName } from '../contracts.js';

export interface TrainerEvent {
  event: TrainerEventName;
  [field: string]: unknown;
}

export interface TrainOptions {
  dataset: string;
  model: string;
  epochs?: number;
  imgsz?: number;
  batch?: number;
  device?: string;
  experiment?: string;
  runName?: string;
  register?: boolean;
  registerAs?: string;
  alias?: string;
  demo?: boolean;
  description?: string;
  /** Other Ultralytics train arguments, `key=value`. */
  extra?: string[];
}

export interface TrainerOutcome {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The last event: finished, failed or killed when the trainer ended normally. */
  last?: TrainerEvent;
  /** The end of the trainer's log, for error reports. */
  logTail: string[];
}

export function trainerArgv(options: TrainOptions): string[] {
  const argv = ['-m', 'mini_streamio.training', '--events=jsonl', '--stop-on-stdin-eof'];
  argv.push(`--dataset=${options.dataset}`, `--model=${options.model}`);
  const valued: [string, string | number | undefined][] = [
    ['epochs', options.epochs],
    ['imgsz', options.imgsz],
    ['batch', options.batch],
    ['device', options.device],
    ['experiment', options.experiment],
    ['run-name', options.runName],
    ['register-as', options.registerAs],
    ['alias', options.alias],
    ['description', options.description],
  ];
  for (const [name, value] of valued)
    if (value !== undefined && value !== '') argv.push(`--${name}=${value}`);
  if (options.register === false) argv.push('--no-register');
  if (options.demo) argv.push('--demo');
  for (const pair of options.extra ?? []) argv.push(`--arg=${pair}`);
  return argv;
}

/** The environment of the trainer: the CLI's settings under the names every component reads. */
export function trainerEnv(config: CliConfig, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...base,
    MINIO_ENDPOINT: config.MINIO_ENDPOINT,
    MINIO_ACCESS_KEY: config.MINIO_ACCESS_KEY,
    MINIO_SECRET_KEY: config.MINIO_SECRET_KEY,
    MINIO_REGION: config.MINIO_REGION,
    MLFLOW_TRACKING_URI: config.MLFLOW_TRACKING_URI,
    MINI_STREAMIO_DATA_DIR: config.MINI_STREAMIO_DATA_DIR,
    MINI_STREAMIO_ALLOW_DOWNLOADS: String(config.MINI_STREAMIO_ALLOW_DOWNLOADS),
    PYTHONUNBUFFERED: '1',
  };
}

export class TrainerProcess {
  readonly done: Promise<TrainerOutcome>;
  readonly logFile: string;
  private readonly child: ChildProcess;
  private interrupted = false;

  constructor(
    options: TrainOptions,
    config: CliConfig,
    onEvent: (event: TrainerEvent) => void,
    echoLog?: NodeJS.WritableStream,
  ) {
    if (!fs.existsSync(stackPython)) {
      throw new Error(`${stackPython} is missing: run \`npm run setup\` first`);
    }
    const logs = path.join(config.MINI_STREAMIO_DATA_DIR, 'logs');
    fs.mkdirSync(logs, { recursive: true });
    this.logFile = path.join(logs, `train-${new Date().toISOString().replace(/[:.]/g, '-')}.log`);
    const log = fs.createWriteStream(this.logFile);
    this.child = spawn(stackPython, trainerArgv(options), {
      cwd: repoRoot,
      env: trainerEnv(config),
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const tail: string[] = [];
    let last: TrainerEvent | undefined;
    const stdout = readline.createInterface({ input: this.child.stdout as NodeJS.ReadableStream });
    stdout.on('line', (line) => {
      const event = parseEvent(line);
      if (!event) {
        log.write(`${line}\n`);
        return;
      }
      last = event;
      onEvent(event);
    });
    const stderr = readline.createInterface({ input: this.child.stderr as NodeJS.ReadableStream });
    stderr.on('line', (line) => {
      log.write(`${line}\n`);
      echoLog?.write(`${line}\n`);
      tail.push(line);
      if (tail.length > 40) tail.shift();
    });
    const stdoutClosed = new Promise<void>((resolve) => stdout.on('close', resolve));
    const stderrClosed = new Promise<void>((resolve) => stderr.on('close', resolve));
    this.done = new Promise((resolve, reject) => {
      this.child.on('error', reject);
      this.child.on('close', async (exitCode, signal) => {
        this.child.stdin?.destroy();
        await Promise.all([stdoutClosed, stderrClosed]);
        log.end();
        resolve({ exitCode, signal, last, logTail: tail });
      });
    });
  }

  /** Asks the trainer to stop (once); returns false if it was already asked. */
  interrupt(): boolean {
    if (this.interrupted || this.child.exitCode !== null) return false;
    this.interrupted = true;
    this.child.kill('SIGINT');
    return true;
  }
}

function parseEvent(line: string): TrainerEvent | null {
  if (!line.startsWith('{')) return null;
  try {
    const parsed = JSON.parse(line) as TrainerEvent;
    return typeof parsed.event === 'string' ? parsed : null;
  } catch {
    return null;
  }
}
