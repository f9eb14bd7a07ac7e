// `npm start` / `npm run up|down|status`: the whole stack, natively, on this machine.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, loadStackConfig, repoRoot, type StackConfig } from './config.js';
import { modelBootstrap, type ServiceSpec, serviceOrder, serviceSpecs } from './services.js';
import { assertPortsFree, consoleSink, probe, StackError, Supervisor } from './supervisor.js';

// Overridable so tests can exercise start/stop without touching a developer's running stack.
const stateDir = process.env.MINI_STREAMIO_STATE_DIR ?? path.join(repoRoot, '.stack/run');
const pidFile = path.join(stateDir, 'stack.pid');
const logFile = path.join(stateDir, 'stack.log');

function orderedSpecs(cfg: StackConfig): ServiceSpec[] {
  const specs = serviceSpecs(cfg);
  return serviceOrder.map((name) => specs[name]);
}

function runningPid(): number | undefined {
  const pid = Number(fs.existsSync(pidFile) ? fs.readFileSync(pidFile, 'utf8') : Number.NaN);
  if (!Number.isInteger(pid)) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

function assertNotRunning(): void {
  const pid = runningPid();
  if (pid)
    throw new StackError(
      `Mini Streamio is already running (pid ${pid}). See 'npm run status'; stop it with 'npm run down' or Ctrl-C in its terminal.`,
    );
}

function printLinks(specs: ServiceSpec[]): void {
  const lines = specs.flatMap((s) =>
    Object.entries(s.links).map(([label, url]) => `  ${label.padEnd(14)} ${url}`),
  );
  console.log(`\nMini Streamio is up:\n${lines.join('\n')}\n\nPress Ctrl-C to stop.`);
}

async function start(cfg: StackConfig): Promise<void> {
  assertNotRunning();
  fs.mkdirSync(stateDir, { recursive: true });
  fs.writeFileSync(pidFile, String(process.pid));
  const supervisor = new Supervisor(consoleSink());
  let shuttingDown = false;
  const shutdown = async (code: number) => {
    if (shuttingDown) return;
    shuttingDown = true;
    console.log('\nStopping Mini Streamio…');
    await supervisor.stopAll();
    fs.rmSync(pidFile, { force: true });
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));
  try {
    const specs = orderedSpecs(cfg);
    for (const spec of specs) await assertPortsFree(spec);
    const [minio, mlflow, bento, gateway] = specs as [ServiceSpec, ServiceSpec, ServiceSpec, ServiceSpec];
    await supervisor.startAll([minio, mlflow]);
    const bootstrap = modelBootstrap(cfg);
    await supervisor.runStep('model', bootstrap.command, bootstrap.args, bootstrap.env);
    await supervisor.startAll([bento, gateway]);
    printLinks(specs);
    // A service that crashes is restarted (logged, with a back-off); one that keeps crashing ends it.
    const failure = await supervisor.failed();
    if (!shuttingDown) {
      console.error(`error: ${failure.message}; stopping Mini Streamio.`);
      await shutdown(1);
    }
  } catch (err) {
    if (!shuttingDown) console.error(`error: ${(err as Error).message}`);
    await shutdown(1);
  }
}

async function up(cfg: StackConfig): Promise<void> {
  assertNotRunning();
  fs.mkdirSync(stateDir, { recursive: true });
  const out = fs.openSync(logFile, 'w');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(repoRoot, 'scripts/stack/main.ts'), 'start'],
    {
      cwd: repoRoot,
      detached: true,
      stdio: ['ignore', out, out],
    },
  );
  child.unref();
  let exitCode: number | null = null;
  child.once('exit', (code) => {
    exitCode = code ?? 1;
  });
  const specs = orderedSpecs(cfg);
  console.log(`Starting Mini Streamio in the background (logs: ${path.relative(process.cwd(), logFile)})…`);
  for (;;) {
    if (exitCode !== null) {
      const tail = fs.readFileSync(logFile, 'utf8').split('\n').slice(-25).join('\n');
      throw new StackError(`the stack did not start:\n${tail}`);
    }
    const health = await Promise.all(specs.map((s) => probe(s.healthUrl)));
    if (health.every(Boolean)) break;
    await new Promise((r) => setTimeout(r, 1_000));
  }
  printLinks(specs);
  console.log("Stop it with 'npm run down'.");
  process.exit(0);
}

async function down(): Promise<void> {
  const pid = runningPid();
  if (!pid) {
    console.log('Mini Streamio is not running.');
    return;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 60_000;
  while (runningPid() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 300));
  if (runningPid()) throw new StackError(`the stack (pid ${pid}) did not stop within 60s`);
  console.log('Mini Streamio stopped.');
}

async function status(cfg: StackConfig): Promise<boolean> {
  const pid = runningPid();
  console.log(pid ? `Mini Streamio is running (pid ${pid}).` : 'Mini Streamio is not running.');
  let allUp = true;
  for (const spec of orderedSpecs(cfg)) {
    const ok = await probe(spec.healthUrl);
    allUp &&= ok;
    console.log(`  ${spec.name.padEnd(8)} ${ok ? 'healthy  ' : 'down     '} ${spec.healthUrl}`);
  }
  return allUp;
}

/** A `.env` in the repo root configures the native stack as it configures docker-compose. */
function loadDotEnv(): void {
  const file = path.join(repoRoot, '.env');
  if (fs.existsSync(file)) process.loadEnvFile(file);
}

async function main(command: string | undefined): Promise<void> {
  loadDotEnv();
  const cfg = loadStackConfig();
  switch (command) {
    case 'start':
      return start(cfg);
    case 'up':
      return up(cfg);
    case 'down':
      return down();
    case 'status':
      process.exitCode = (await status(cfg)) ? 0 : 3;
      return;
    default:
      throw new StackError(`unknown command ${command ?? '(none)'}; use start, up, down or status`);
  }
}

main(process.argv[2]).catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof StackError) {
    console.error(`error: ${err.message}`);
    process.exit(1);
  }
  throw err;
});
