// The supervisor restarts a service that crashes (after a back-off, logged), gives up on one that
// keeps crashing, and a stop during a back-off or a restart leaves no process behind. Real
// processes: the gateway and BentoML from the test stack, and a tiny HTTP server that crashes.
import fs from 'node:fs';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { repoRoot } from './config.js';
import { isAlive, processTree } from './processes.js';
import type { RestartLimits } from './restart-policy.js';
import type { ServiceSpec } from './services.js';
import { freePort, probe, Supervisor } from './supervisor.js';
import { startTestStack, type TestStack } from './test-stack.js';

const fast: RestartLimits = {
  initialDelayMs: 200,
  maxDelayMs: 1_000,
  stableAfterMs: 60_000,
  maxCrashes: 2,
  windowMs: 60_000,
};

/** Log lines by source, for asserting what the supervisor said. */
function recorder() {
  const lines: string[] = [];
  return {
    lines,
    log: (source: string, line: string) => lines.push(`${source}| ${line}`),
    count: (text: string) => lines.filter((l) => l.includes(text)).length,
  };
}

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Processes whose command line holds `token` (the fake service's, and anything it left). */
function processesWith(token: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(token);
      } catch {
        return false;
      }
    })
    .map(Number);
}

// An HTTP server answering 503 for `healthyAfterMs`, then 200; it exits (code 3) after
// `exitAfterMs` when that is above 0. argv: port, healthyAfterMs, exitAfterMs, token.
const fakeServer = `
const [port, healthyAfter, exitAfter] = process.argv.slice(1, 4).map(Number);
const started = Date.now();
require('node:http')
  .createServer((_, res) => { res.statusCode = Date.now() - started >= healthyAfter ? 200 : 503; res.end(); })
  .listen(port, '127.0.0.1', () => console.log('fake listening'));
if (exitAfter > 0) setTimeout(() => process.exit(3), exitAfter);
`;

async function fakeSpec({ healthyAfterMs = 0, exitAfterMs = 0 } = {}) {
  const port = await freePort();
  const token = `fake-service-${process.pid}-${port}`;
  const spec: ServiceSpec = {
    name: 'gateway',
    command: process.execPath,
    args: ['-e', fakeServer, String(port), String(healthyAfterMs), String(exitAfterMs), token],
    env: {},
    cwd: repoRoot,
    ports: { FAKE_PORT: port },
    healthUrl: `http://127.0.0.1:${port}/`,
    readyTimeoutMs: 20_000,
    links: {},
  };
  return { spec, token };
}

/** Binds `server` to the port; false while another process still holds it. */
function listens(server: net.Server, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
}

function killGroup(supervisor: Supervisor, name: 'gateway' | 'bento'): number {
  const pgid = supervisor.servicePids().get(name);
  if (!pgid) throw new Error(`${name} is not running`);
  process.kill(-pgid, 'SIGKILL');
  return pgid;
}

describe('the supervisor restarts crashed services', () => {
  let stack: TestStack | undefined;
  let supervisor: Supervisor | undefined;

  afterEach(async () => {
    await stack?.stop();
    await supervisor?.stopAll();
    stack = supervisor = undefined;
  });

  it('when the gateway is killed, then it is restarted, healthy again, and the restart is logged', async () => {
    const out = recorder();
    stack = await startTestStack(['gateway'], { log: out.log, restartLimits: fast });
    const before = killGroup(stack.supervisor, 'gateway');
    await until('the gateway restarted', () => out.count('gateway restarted and healthy again') === 1);
    expect(await probe(`${stack.env.GATEWAY_URL}/healthz`)).toBe(true);
    expect(stack.supervisor.servicePids().get('gateway')).not.toBe(before);
    expect(out.lines).toContainEqual(
      expect.stringMatching(/^stack\| gateway exited on its own \(signal SIGKILL\); restarting it in 0\.2 s/),
    );
  });

  it('when BentoML is killed, then its workers that left the group die too and it comes back', async () => {
    const out = recorder();
    stack = await startTestStack(['bento'], { log: out.log, restartLimits: fast, waitForModel: false });
    const pgid = stack.supervisor.servicePids().get('bento') ?? 0;
    const tree = [...processTree(pgid)];
    expect(tree.length).toBeGreaterThan(1); // the arbiter and its workers
    killGroup(stack.supervisor, 'bento');
    await until('BentoML restarted', () => out.count('bento restarted and healthy again') === 1, 120_000);
    expect(tree.filter(isAlive)).toEqual([]);
    // Restarted at the first attempt: no leftover worker held the port.
    expect(out.count('exited on its own')).toBe(1);
    expect(await probe(`${stack.env.BENTOML_URL}/livez`)).toBe(true);
    expect(out.lines).toContainEqual(expect.stringContaining('bento exited on its own (signal SIGKILL)'));
  }, 300_000); // two BentoML start-ups: under a minute, more on a busy machine

  it('when a service keeps crashing after it was healthy, then the supervisor gives up naming it', async () => {
    const out = recorder();
    supervisor = new Supervisor(out.log, { restartLimits: fast });
    const { spec, token } = await fakeSpec({ exitAfterMs: 1_500 });
    await supervisor.start(spec);
    const failure = await supervisor.failed();
    expect(failure.message).toBe('gateway crashed 3 times within 1 min (at most 2 are restarted)');
    expect(out.lines).toContainEqual(`stack| ${failure.message}; giving up`);
    expect(out.count('gateway exited on its own (exit code 3); restarting it in')).toBe(2);
    expect(out.lines).toContainEqual(expect.stringContaining('restarting it in 0.4 s (crash 2 within 1 min'));
    expect(processesWith(token)).toEqual([]);
    expect(supervisor.isRunning('gateway')).toBe(false);
  });

  it('when the port is still held after the back-off, then the restart waits for it instead of failing', async () => {
    const out = recorder();
    // 1 s of back-off: time for the test to take the port before the supervisor looks at it
    supervisor = new Supervisor(out.log, {
      restartLimits: { ...fast, initialDelayMs: 1_000, maxDelayMs: 1_000 },
    });
    const { spec } = await fakeSpec();
    const port = spec.ports.FAKE_PORT ?? 0;
    await supervisor.start(spec);
    killGroup(supervisor, 'gateway');
    const blocker = net.createServer();
    await until('the port held by the test', () => listens(blocker, port), 5_000);
    await new Promise((r) => setTimeout(r, 2_500)); // well past the back-off
    expect(out.count('restarted and healthy again')).toBe(0);
    blocker.close();
    await until('the restart', () => out.count('restarted and healthy again') === 1, 20_000);
    expect(out.count('exited on its own')).toBe(1); // no failed restart in between
  });

  it('when the stack stops during a back-off, then nothing is left and nothing starts again', async () => {
    const out = recorder();
    const backoffMs = 2_000;
    supervisor = new Supervisor(out.log, {
      restartLimits: { ...fast, initialDelayMs: backoffMs, maxDelayMs: backoffMs },
    });
    const { spec, token } = await fakeSpec();
    await supervisor.start(spec);
    killGroup(supervisor, 'gateway');
    await until('the back-off', () => out.count('restarting it in 2 s') === 1);
    await supervisor.stopAll();
    await new Promise((r) => setTimeout(r, backoffMs + 500));
    expect(out.count('fake listening')).toBe(1);
    expect(processesWith(token)).toEqual([]);
    expect(supervisor.isRunning('gateway')).toBe(false);
  });

  it('when the stack stops while a restarted service is not healthy yet, then nothing is left', async () => {
    const out = recorder();
    supervisor = new Supervisor(out.log, { restartLimits: fast });
    const { spec, token } = await fakeSpec({ healthyAfterMs: 1_000 });
    await supervisor.start(spec);
    killGroup(supervisor, 'gateway');
    await until('the restarted process', () => out.count('fake listening') === 2);
    const stopped = Date.now();
    await supervisor.stopAll();
    expect(Date.now() - stopped).toBeLessThan(5_000);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(processesWith(token)).toEqual([]);
    expect(out.count('restarted and healthy again')).toBe(0);
  });
});
