// Starts services as child processes in their own process groups, prefixes their logs,
// waits for their health probes and stops them (and everything they spawned) cleanly.
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import readline from 'node:readline';
import { isAlive, processTree } from './processes.js';
import type { ServiceName, ServiceSpec } from './services.js';

export class StackError extends Error {}

const colors: Record<string, number> = { minio: 35, mlflow: 36, bento: 33, gateway: 32, model: 34 };

/** Receives each output line of a service (or a one-off step such as the model bootstrap). */
export type LogSink = (source: string, line: string) => void;

export const consoleSink =
  (stream: NodeJS.WritableStream = process.stdout, color = Boolean(process.stdout.isTTY)): LogSink =>
  (source, line) => {
    const tag = source.padEnd(7);
    stream.write(color ? `\x1b[${colors[source] ?? 37}m${tag}|\x1b[0m ${line}\n` : `${tag}| ${line}\n`);
  };

export class Supervisor {
  private readonly running = new Map<ServiceName, ChildProcess>();
  private stopping = false;

  constructor(private readonly log: LogSink) {}

  /** Runs a one-off step to completion with its output logged under `label`; rejects if it fails. */
  async runStep(label: string, command: string, args: string[], env: Record<string, string>): Promise<void> {
    const child = spawn(command, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const stream of [child.stdout, child.stderr])
      readline.createInterface({ input: stream }).on('line', (l) => this.log(label, l));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', resolve);
    });
    if (code !== 0) throw new StackError(`${label} step failed (exit ${code}); see its output above`);
  }

  /** Starts the services in order, each healthy before the next starts. */
  async startAll(specs: ServiceSpec[]): Promise<void> {
    for (const spec of specs) await assertPortsFree(spec);
    for (const spec of specs) await this.start(spec);
  }

  async start(spec: ServiceSpec): Promise<void> {
    await assertPortsFree(spec);
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group: stop() reaches grandchildren (gunicorn, bentoml workers)
    });
    this.running.set(spec.name, child);
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) readline.createInterface({ input: stream }).on('line', (line) => this.log(spec.name, line));
    }
    const exited = new Promise<never>((_, reject) => {
      child.once('error', (err) => reject(new StackError(`${spec.name} could not start: ${err.message}`)));
      child.once('exit', (code, signal) => {
        this.running.delete(spec.name);
        if (!this.stopping)
          reject(new StackError(`${spec.name} exited (${signal ?? `code ${code}`}) before it was healthy`));
      });
    });
    exited.catch(() => {}); // observed below; after startup an exit is reported through onExit
    await Promise.race([waitHealthy(spec), exited]);
  }

  /** Resolves when any started service exits on its own. */
  firstExit(): Promise<ServiceName> {
    return new Promise((resolve) => {
      for (const [name, child] of this.running) child.once('exit', () => resolve(name));
    });
  }

  /** Process-group ids of the running services (each service leads its own group). */
  processGroups(): number[] {
    return [...this.running.values()].flatMap((child) => (child.pid ? [child.pid] : []));
  }

  /** Each running service's process-group id, by name. */
  servicePids(): Map<ServiceName, number> {
    return new Map([...this.running].flatMap(([name, child]) => (child.pid ? [[name, child.pid]] : [])));
  }

  isRunning(name: ServiceName): boolean {
    return this.running.has(name);
  }

  /**
   * Stops one service: SIGTERM to its whole process group, SIGKILL after `graceMs` (0: at once).
   * Descendants that left the group (BentoML's workers) are found before the signal and killed too
   * if they outlive the service, so even a hard stop leaves nothing behind.
   */
  async stop(name: ServiceName, graceMs = 10_000): Promise<void> {
    const child = this.running.get(name);
    if (!child?.pid) return;
    const wasStopping = this.stopping;
    this.stopping = true;
    const tree = processTree(child.pid);
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    signalGroup(child.pid, graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
    const timer = setTimeout(() => child.pid && signalGroup(child.pid, 'SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
    signalGroup(child.pid, 'SIGKILL');
    for (const pid of tree) signalProcess(pid, 'SIGKILL');
    const leftovers = () => groupAlive(child.pid ?? 0) || [...tree].some(isAlive);
    for (let i = 0; i < 50 && leftovers(); i++) await new Promise((r) => setTimeout(r, 100));
    this.running.delete(name);
    this.stopping = wasStopping;
  }

  /** Stops every service, the last started first. */
  async stopAll(): Promise<void> {
    this.stopping = true;
    for (const name of [...this.running.keys()].reverse()) await this.stop(name);
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  signalProcess(-pgid, signal);
}

function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function assertPortsFree(spec: ServiceSpec): Promise<void> {
  for (const [setting, port] of Object.entries(spec.ports)) {
    const host = spec.env.BIND_HOST ?? '127.0.0.1';
    if (!(await isPortFree(host, port)))
      throw new StackError(
        `${setting}=${port}: port ${port} on ${host} is already in use (is Mini Streamio already running? ` +
          `try 'npm run status'), or set ${setting} to a free port`,
      );
  }
}

export function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A port the OS reports free right now, for tests that start their own services. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host, port: 0 }, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()));
    });
  });
}

export async function probe(url: string, timeoutMs = 2_000): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return response.ok;
  } catch {
    return false;
  }
}

async function waitHealthy(spec: ServiceSpec): Promise<void> {
  const deadline = Date.now() + spec.readyTimeoutMs;
  while (Date.now() < deadline) {
    if (await probe(spec.healthUrl)) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new StackError(
    `${spec.name} was not healthy at ${spec.healthUrl} within ${spec.readyTimeoutMs / 1000}s`,
  );
}
