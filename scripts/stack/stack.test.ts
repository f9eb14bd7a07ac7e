import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from './config.js';
import { isAlive, processTable, processTree } from './processes.js';
import { freePort, probe } from './supervisor.js';
import { startTestStack, type TestStack } from './test-stack.js';

function runStack(command: string, env: Record<string, string>) {
  return spawnSync(
    process.execPath,
    ['--import', 'tsx', path.join(repoRoot, 'scripts/stack/main.ts'), command],
    {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
}

describe('npm start, fail-fast cases', () => {
  it('when a port setting is not a number, then start fails naming the setting without a stack trace', () => {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stack-state-'));
    const result = runStack('start', { GATEWAY_PORT: 'eighty', MINI_STREAMIO_STATE_DIR: stateDir });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('GATEWAY_PORT="eighty"');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('when a port is already taken, then start fails naming the setting and starts nothing', async () => {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stack-state-'));
    const blocker = net.createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    const result = runStack('start', {
      MLFLOW_PORT: String(port),
      MINIO_PORT: String(await freePort()),
      MINIO_CONSOLE_PORT: String(await freePort()),
      BENTOML_PORT: String(await freePort()),
      GATEWAY_PORT: String(await freePort()),
      MINI_STREAMIO_STATE_DIR: stateDir,
    });
    blocker.close();
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`MLFLOW_PORT=${port}: port ${port} on 127.0.0.1 is already in use`);
    expect(fs.existsSync(path.join(stateDir, 'stack.pid'))).toBe(false);
  });

  it('when the stack already runs, then a second start says so instead of crashing', () => {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stack-state-'));
    fs.writeFileSync(path.join(stateDir, 'stack.pid'), String(process.pid));
    const result = runStack('start', { MINI_STREAMIO_STATE_DIR: stateDir });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`Mini Streamio is already running (pid ${process.pid})`);
  });
});

describe('the four services, started as npm start starts them', () => {
  let stack: TestStack;
  const gatewayLines: string[] = [];

  beforeAll(async () => {
    // No model is registered here: BentoML is alive but not ready (tests/e2e serve a real model).
    stack = await startTestStack(['minio', 'mlflow', 'bento', 'gateway'], {
      waitForModel: false,
      log: (name, line) => {
        if (name === 'gateway') gatewayLines.push(line);
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const readiness = async () => {
    const response = await fetch(`${stack.env.GATEWAY_URL}/readyz`);
    return { status: response.status, checks: ((await response.json()) as { checks: unknown }).checks };
  };

  it('when all are up without a model, then every health endpoint answers and the gateway reports BentoML not ready', async () => {
    const env = stack.env;
    expect(await probe(`${env.MINIO_ENDPOINT}/minio/health/live`)).toBe(true);
    expect(await probe(`${env.MLFLOW_TRACKING_URI}/health`)).toBe(true);
    expect(await probe(`${env.BENTOML_URL}/livez`)).toBe(true);
    expect(await probe(`${env.BENTOML_URL}/readyz`)).toBe(false);
    expect(await probe(`${env.GATEWAY_URL}/healthz`)).toBe(true);
    expect(await readiness()).toMatchObject({ status: 503, checks: { storage: true, inference: false } });
  });

  it('when the gateway starts with its task records in SQLite, then it prints no Node warning', () => {
    expect(stack.env.GATEWAY_URL).toBeTruthy();
    expect(gatewayLines.length).toBeGreaterThan(0);
    expect(gatewayLines.filter((line) => /Warning/.test(line))).toEqual([]);
  });

  it('when MinIO stops, then the gateway reports storage down, and up again once it is back', async () => {
    await stack.supervisor.stop('minio');
    expect(await readiness()).toMatchObject({ status: 503, checks: { storage: false } });
    await stack.restart('minio');
    expect(await readiness()).toMatchObject({ checks: { storage: true } });
  });

  it('when the stack stops, then no process it started is left', async () => {
    const groups = stack.supervisor.processGroups();
    expect(groups).toHaveLength(4);
    const members = () =>
      spawnSync('pgrep', ['-g', groups.join(',')], { encoding: 'utf8' })
        .stdout.split('\n')
        .filter(Boolean);
    expect(members().length).toBeGreaterThan(4); // MLflow and BentoML run worker processes
    const table = processTable();
    const descendants = groups.flatMap((pgid) => [...processTree(pgid, table)]);
    await stack.stop();
    expect(members()).toEqual([]);
    expect(descendants.filter(isAlive)).toEqual([]); // BentoML's workers leave the group
  });
});
