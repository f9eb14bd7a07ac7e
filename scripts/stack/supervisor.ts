// Starts services as child processes in their own process groups, prefixes their logs,
// waits for their health probes, restarts them when they crash (with a back-off and a limit, see
// restart-policy.ts) and stops them (and everything they spawned) cleanly.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive, processTable, processTree } from './processes.js';
import {
  DEFAULT_RESTART_LIMITS,
  formatDuration,
  type RestartLimits,
  RestartPolicy,
} from './restart-policy.js';
import type { ServiceName, ServiceSpec } from './services.js';

export class StackError extends Error {}

const colors: Record<string, number> = {
  minio: 35,
  mlflow: 36,
  bento: 33,
  gateway: 32,
  model: 34,
  stack: 31,
};

/** Receives each output line of a service (or a one-off step such as the model bootstrap). */
export type LogSink = (source: string, line: string) => void;

export const consoleSink =
  (stream: NodeJS.WritableStream = process.stdout, color = Boolean(process.stdout.isTTY)): LogSink =>
  (source, line) => {
    const tag = source.padEnd(7);
    stream.write(color ? `\x1b[${colors[source] ?? 37}m${tag}|\x1b[0m ${line}\n` : `${tag}| ${line}\n`);
  };

/** A started service: its child process and what the supervisor knows about it. */
interface Service {
  spec: ServiceSpec;
  child: ChildProcess;
  /** Its process tree when last looked at: BentoML's workers leave the group and outlive the server. */
  tree: Set<number>;
  /** Set by stop(): the exit that follows is not a crash. */
  stopping: boolean;
}

export interface SupervisorOptions {
  /** Back-off and limit for restarting crashed services (tests shorten them). */
  restartLimits?: RestartLimits;
}

/** How long a restart waits for the crashed service's ports (a leftover process, a closing socket). */
const PORT_WAIT_MS = 10_000;
/** How often the supervisor notes each service's process tree, to find its leftovers after a crash. */
const TREE_REFRESH_MS = 5_000;

export class Supervisor {
  private readonly running = new Map<ServiceName, Service>();
  private readonly policies = new Map<ServiceName, RestartPolicy>();
  /** Aborted by stopAll(): ends back-offs, restarts and health waits, and no service starts after it. */
  private readonly shutdown = new AbortController();
  private readonly restartLimits: RestartLimits;
  private readonly treeTimer: NodeJS.Timeout;
  private gaveUp: (error: StackError) => void = () => {};
  private readonly failure = new Promise<StackError>((resolve) => {
    this.gaveUp = resolve;
  });

  constructor(
    private readonly log: LogSink,
    { restartLimits = DEFAULT_RESTART_LIMITS }: SupervisorOptions = {},
  ) {
    this.restartLimits = restartLimits;
    this.treeTimer = setInterval(() => this.noteTrees(), TREE_REFRESH_MS).unref();
  }

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

  /**
   * Starts one service and waits until it is healthy; rejects if it exits or times out first.
   * Once healthy, an exit that stop() did not ask for is a crash: see crashed().
   */
  async start(spec: ServiceSpec): Promise<void> {
    await assertPortsFree(spec);
    if (this.shutdown.signal.aborted) throw new StackError(`${spec.name} not started: the stack is stopping`);
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group: stop() reaches grandchildren (gunicorn, bentoml workers)
    });
    const service: Service = { spec, child, tree: new Set(child.pid ? [child.pid] : []), stopping: false };
    this.running.set(spec.name, service);
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) readline.createInterface({ input: stream }).on('line', (line) => this.log(spec.name, line));
    }
    let healthy = false;
    const exited = new Promise<never>((_, reject) => {
      child.once('error', (err) => {
        if (this.running.get(spec.name) === service) this.running.delete(spec.name);
        reject(new StackError(`${spec.name} could not start: ${err.message}`));
      });
      child.once('exit', (code, signal) => {
        if (this.running.get(spec.name) === service) this.running.delete(spec.name);
        const how = signal ? `signal ${signal}` : `exit code ${code}`;
        if (!healthy) reject(new StackError(`${spec.name} exited (${how}) before it was healthy`));
        else if (!service.stopping && !this.shutdown.signal.aborted)
          void killTree(child.pid, service.tree).then(() => this.crashed(spec, how));
      });
    });
    exited.catch(() => {}); // before healthy it rejects the race below; after, crashed() handles it
    await Promise.race([waitHealthy(spec, this.shutdown.signal), exited]);
    healthy = true;
    if (child.pid) service.tree = processTree(child.pid);
    this.policy(spec.name).healthy();
  }

  /** Resolves when a service crashed more often than the restart limit allows; the stack should stop. */
  failed(): Promise<StackError> {
    return this.failure;
  }

  /**
   * A healthy service exited on its own (and what was left of its process tree is killed): start it
   * again after the policy's back-off, waiting for health as at start-up. A restart that fails counts as
   * one more crash. Past the limit, failed() resolves instead.
   */
  private async crashed(spec: ServiceSpec, how: string): Promise<void> {
    const decision = this.policy(spec.name).crashed();
    const { maxCrashes, windowMs } = this.restartLimits;
    const window = formatDuration(windowMs);
    if (!decision.restart) {
      const message = `${spec.name} crashed ${decision.crashes} times within ${window} (at most ${maxCrashes} are restarted)`;
      this.log('stack', `${message}; giving up`);
      this.gaveUp(new StackError(message));
      return;
    }
    this.log(
      'stack',
      `${spec.name} exited on its own (${how}); restarting it in ${formatDuration(decision.delayMs)} ` +
        `(crash ${decision.crashes} within ${window}; more than ${maxCrashes} stop the stack)`,
    );
    try {
      await sleep(decision.delayMs, undefined, { signal: this.shutdown.signal });
      await waitPortsFree(spec, PORT_WAIT_MS, this.shutdown.signal);
      await this.start(spec);
      this.log('stack', `${spec.name} restarted and healthy again`);
    } catch (err) {
      if (this.shutdown.signal.aborted) return; // stopAll() stops whatever the restart started
      await this.stop(spec.name, 0); // if it runs but is not healthy in time
      await this.crashed(spec, `restart failed: ${(err as Error).message}`);
    }
  }

  private policy(name: ServiceName): RestartPolicy {
    let policy = this.policies.get(name);
    if (!policy) this.policies.set(name, (policy = new RestartPolicy(this.restartLimits)));
    return policy;
  }

  private noteTrees(): void {
    if (this.running.size === 0) return;
    const table = processTable();
    for (const service of this.running.values())
      if (service.child.pid) service.tree = processTree(service.child.pid, table);
  }

  /** Process-group ids of the running services (each service leads its own group). */
  processGroups(): number[] {
    return [...this.servicePids().values()];
  }

  /** Each running service's process-group id, by name. */
  servicePids(): Map<ServiceName, number> {
    return new Map(
      [...this.running].flatMap(([name, { child }]) => (child.pid ? [[name, child.pid] as const] : [])),
    );
  }

  isRunning(name: ServiceName): boolean {
    return this.running.has(name);
  }

  /**
   * Stops one service: SIGTERM to its whole process group, SIGKILL after `graceMs` (0: at once).
   * Descendants that left the group (BentoML's workers) are found before the signal and killed too
   * if they outlive the service, so even a hard stop leaves nothing behind. The exit is not a crash:
   * the service stays down (a service already waiting for its restart is ended by stopAll() only).
   */
  async stop(name: ServiceName, graceMs = 10_000): Promise<void> {
    const service = this.running.get(name);
    const pid = service?.child.pid;
    if (!service || !pid) return;
    service.stopping = true;
    const { child } = service;
    const tree = processTree(pid);
    const gone = new Promise<void>((resolve) =>
      child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()),
    );
    signalGroup(pid, graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
    const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
    await killTree(pid, tree);
    if (this.running.get(name) === service) this.running.delete(name);
  }

  /** Stops every service, the last started first, and any restart under way or waiting. */
  async stopAll(): Promise<void> {
    this.shutdown.abort();
    clearInterval(this.treeTimer);
    for (const name of [...this.running.keys()].reverse()) await this.stop(name);
  }
}

/** SIGKILL to a process group and to every process of `tree`; waits (up to 5 s) until all are gone. */
async function killTree(pgid: number | undefined, tree: Set<number>): Promise<void> {
  if (pgid) signalGroup(pgid, 'SIGKILL'); // never pgid 0: that is the supervisor's own group
  for (const pid of tree) signalProcess(pid, 'SIGKILL');
  const leftovers = () => (pgid !== undefined && groupAlive(pgid)) || [...tree].some(isAlive);
  for (let i = 0; i < 50 && leftovers(); i++) await sleep(100);
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

/**
 * A port free right now, for tests that start their own services. It is drawn below the kernel's
 * ephemeral range (ip_local_port_range): a port the OS hands out for `listen(0)` is also the kind
 * it hands to outgoing connections, so one picked that way can be taken by a client socket before
 * a service started later binds it. Ports handed out by this process are never handed out again.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [low, high] = unassignedPortRange();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (handedOutPorts.has(port)) continue;
    if (await isPortFree(host, port)) {
      handedOutPorts.add(port);
      return port;
    }
  }
  throw new StackError(`no free port found between ${low} and ${high} on ${host}`);
}

const handedOutPorts = new Set<number>();

/** Ports no outgoing connection is given: below the ephemeral range, or above it. */
function unassignedPortRange(): [number, number] {
  let [low, high] = [32768, 60999]; // Linux's default, when /proc cannot be read
  try {
    [low, high] = fs
      .readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number) as [number, number];
  } catch {}
  if (low > 11_000) return [10_000, low - 1];
  if (high < 64_000) return [high + 1, 65_535];
  return [10_000, 65_535];
}

export async function probe(url: string, timeoutMs = 2_000): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return response.ok;
  } catch {
    return false;
  }
}

async function waitHealthy(spec: ServiceSpec, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + spec.readyTimeoutMs;
  while (Date.now() < deadline) {
    if (signal.aborted) throw new StackError(`${spec.name} stopped before it was healthy`);
    if (await probe(spec.healthUrl)) return;
    await sleep(300);
  }
  throw new StackError(
    `${spec.name} was not healthy at ${spec.healthUrl} within ${spec.readyTimeoutMs / 1000}s`,
  );
}

/** Waits until the service's ports are free, up to `timeoutMs`; then fails as assertPortsFree does. */
async function waitPortsFree(spec: ServiceSpec, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await assertPortsFree(spec);
    } catch (err) {
      if (Date.now() >= deadline) throw err;
    }
    await sleep(250, undefined, { signal });
  }
}
