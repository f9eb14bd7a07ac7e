// Static checks of Dockerfile.gateway and Dockerfile.bento: hadolint, the build context, the
// runtime stage (user, health check, command, settings) and the versions they pin against the
// ones the project declares elsewhere.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { gatewaySchema, pythonSchema, type Schema } from './config-schemas.js';
import {
  assignmentsOf,
  baseImageOf,
  copyProblems,
  copySources,
  envOf,
  globalArgs,
  lastOf,
  parseDockerfile,
  type Stage,
  stagesOf,
  wordsOf,
} from './dockerfile.js';
import { isIgnored, parseDockerignore } from './dockerignore.js';
import { fromRoot, hadolint, readText } from './paths.js';

interface Hadolint {
  status: number | null;
  findings: { code: string; line: number; message: string }[];
}

function runHadolint(file: string): Hadolint {
  const result = spawnSync(hadolint, ['--config', fromRoot('.hadolint.yaml'), '--format', 'json', file], {
    encoding: 'utf8',
  });
  if (result.error) throw result.error;
  return { status: result.status, findings: JSON.parse(result.stdout || '[]') };
}

function runtimeStage(dockerfile: string): Stage {
  const stage = stagesOf(parseDockerfile(readText(dockerfile))).at(-1);
  if (!stage) throw new Error(`${dockerfile} has no stage`);
  return stage;
}

const runsOf = (stage: Stage) => stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);

describe('Dockerfile reading (helpers)', () => {
  it('when instructions continue over lines with comments between, then they are joined as Docker does', () => {
    const instructions = parseDockerfile(
      '# syntax=docker/dockerfile:1\nENV A=1 \\\n    # why B\n    B="two words"\nRUN echo hi\n',
    );
    expect(instructions.map((i) => [i.keyword, i.line])).toEqual([
      ['ENV', 2],
      ['RUN', 5],
    ]);
    expect(assignmentsOf(instructions[0]?.args as string)).toEqual({ A: '1', B: 'two words' });
  });

  it('when COPY copies from a stage, then it has no local sources', () => {
    const [fromStage, local] = parseDockerfile('COPY --from=build /app/dist dist\nCOPY --chown=1:1 a b ./\n');
    expect(copySources(fromStage as never)).toEqual([]);
    expect(copySources(local as never)).toEqual(['a', 'b']);
    expect(wordsOf('["node", "start.js"]')).toEqual(['node', 'start.js']);
  });

  it('when FROM uses a global ARG, then its default names the base image', () => {
    const instructions = parseDockerfile('ARG BASE=python:3.11-slim\nFROM ${BASE} AS deps\nFROM deps\n');
    const stages = stagesOf(instructions);
    expect(stages.map((stage) => stage.name)).toEqual(['deps', undefined]);
    expect(baseImageOf(stages[0] as Stage, globalArgs(instructions))).toBe('python:3.11-slim');
  });

  it('when a .dockerignore names directories, globs and exceptions, then paths match as in Docker', () => {
    const rules = parseDockerignore('# comment\n**/node_modules\n.stack\n*.md\n!README.md\n');
    expect(isIgnored('gateway/node_modules/x', rules)).toBe(true);
    expect(isIgnored('node_modules', rules)).toBe(true);
    expect(isIgnored('.stack/venv', rules)).toBe(true);
    expect(isIgnored('docs/a.md', rules)).toBe(false);
    expect(isIgnored('NOTES.md', rules)).toBe(true);
    expect(isIgnored('README.md', rules)).toBe(false);
    expect(isIgnored('gateway/src', rules)).toBe(false);
  });

  it('when a COPY source is missing, excluded or a wildcard, then each is reported', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'context-'));
    fs.mkdirSync(path.join(root, 'src'));
    fs.writeFileSync(path.join(root, 'secret.env'), '');
    const rules = parseDockerignore('*.env\n');
    const instructions = parseDockerfile('FROM x:1\nCOPY src missing.txt ./\nCOPY secret.env *.json ./\n');
    expect(copyProblems(instructions, root, (p) => isIgnored(p, rules))).toEqual([
      'line 2: COPY missing.txt: no such path',
      'line 3: COPY secret.env: excluded by .dockerignore',
      'line 3: COPY *.json: wildcards are not checked, name the paths',
    ]);
  });

  it('when a Dockerfile breaks best practice, then hadolint fails it naming the rules', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hadolint-')), 'Dockerfile');
    fs.writeFileSync(file, 'FROM node:latest\nRUN cd /app && npm install\n');
    const result = runHadolint(file);
    expect(result.status).not.toBe(0);
    expect(result.findings.map((finding) => finding.code)).toEqual(
      expect.arrayContaining(['DL3007', 'DL3003']),
    );
  });
});

describe('.dockerignore', () => {
  it('when the build context is sent, then secrets, local state and host-built dependencies stay out', () => {
    const rules = parseDockerignore(readText('.dockerignore'));
    const leaked = [
      '.env',
      '.git',
      '.stack',
      '.data',
      'node_modules',
      'gateway/node_modules',
      'gateway/dist',
    ].filter((entry) => !isIgnored(entry, rules));
    expect(leaked).toEqual([]);
  });
});

describe.each([
  {
    dockerfile: 'Dockerfile.gateway',
    schema: gatewaySchema,
    command: ['node', '--disable-warning=ExperimentalWarning', 'gateway/dist/start.js'],
    probe: '/healthz',
    // Set for Node itself, not read by the gateway's config.
    runtimeVariables: ['NODE_ENV'],
  },
  {
    dockerfile: 'Dockerfile.bento',
    schema: pythonSchema,
    command: ['python', '-m', 'mini_streamio.serving'],
    probe: '/readyz',
    // Set for the interpreter and the shell, not read by mini_streamio.settings.
    runtimeVariables: ['PATH', 'PYTHONPATH', 'PYTHONUNBUFFERED', 'PYTHONDONTWRITEBYTECODE', 'HOME'],
  },
])('$dockerfile', ({ dockerfile, schema, command, probe, runtimeVariables }) => {
  let stage: Stage;
  let settings: Schema;

  beforeAll(() => {
    stage = runtimeStage(dockerfile);
    settings = schema();
  });

  it('when linted with hadolint (.hadolint.yaml), then it has no finding', () => {
    expect(runHadolint(fromRoot(dockerfile))).toEqual({ status: 0, findings: [] });
  });

  it('when built from the repository root, then every path it copies exists and is in the context', () => {
    const rules = parseDockerignore(readText('.dockerignore'));
    const instructions = parseDockerfile(readText(dockerfile));
    expect(instructions.some((instruction) => copySources(instruction).length > 0)).toBe(true);
    expect(copyProblems(instructions, fromRoot(), (p) => isIgnored(p, rules))).toEqual([]);
  });

  it('when it runs, then it runs as a numeric non-root user', () => {
    const user = lastOf(stage, 'USER') ?? 'root';
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(user.split(':')[0]).not.toBe('0');
  });

  it('when it runs, then its command is the entry point and its health check probes that service', () => {
    expect(wordsOf(lastOf(stage, 'CMD') ?? '')).toEqual(command);
    expect(lastOf(stage, 'HEALTHCHECK')).toContain(probe);
  });

  it('when the image sets a variable, then it is a setting of the schema or a runtime variable', () => {
    const unknown = Object.keys(envOf(stage)).filter(
      (name) => !settings.has(name) && !runtimeVariables.includes(name),
    );
    expect(unknown).toEqual([]);
    expect(envOf(stage).BIND_HOST).toBe('0.0.0.0');
  });
});

describe('pinned versions', () => {
  it('when the gateway image is built, then its Node satisfies the engines of package.json', () => {
    const instructions = parseDockerfile(readText('Dockerfile.gateway'));
    const stages = stagesOf(instructions);
    const images = stages.map((stage) => baseImageOf(stage, globalArgs(instructions)));
    const engines = JSON.parse(readText('package.json')).engines.node as string;
    const [wantMajor, wantMinor] = (/>=(\d+)\.(\d+)/.exec(engines) ?? []).slice(1).map(Number);
    for (const image of images) {
      const [major, minor] = (/^node:(\d+)\.(\d+)/.exec(image) ?? []).slice(1).map(Number);
      expect(major, image).toBe(wantMajor);
      expect(minor, image).toBeGreaterThanOrEqual(wantMinor as number);
    }
  });

  it('when the gateway runtime installs packages, then it takes the production dependencies only', () => {
    const runs = runsOf(runtimeStage('Dockerfile.gateway'));
    expect(runs.some((run) => /npm ci .*--omit=dev .*--workspace gateway/.test(run))).toBe(true);
  });

  it('when the Python image is built, then it uses setup.sh’s uv and the Python of pyproject.toml', () => {
    const instructions = parseDockerfile(readText('Dockerfile.bento'));
    const stages = stagesOf(instructions);
    const uvVersion = /^UV_VERSION="([^"]+)"/m.exec(readText('scripts/setup.sh'))?.[1];
    expect(stages.map((stage) => stage.from)).toContain(`ghcr.io/astral-sh/uv:${uvVersion}`);
    const python = /requires-python = "==(\d+\.\d+)\.\*"/.exec(readText('bento/pyproject.toml'))?.[1];
    expect(baseImageOf(stages.at(-1) as Stage, globalArgs(instructions))).toMatch(
      new RegExp(`^python:${python}-`),
    );
    expect(envOf(stages.find((stage) => stage.name === 'deps') as Stage).UV_PYTHON).toBe(python);
  });

  it('when the Python image installs packages, then it takes the locked runtime group only', () => {
    const deps = stagesOf(parseDockerfile(readText('Dockerfile.bento'))).find(
      (stage) => stage.name === 'deps',
    );
    const sync = runsOf(deps as Stage).find((run) => run.includes('uv sync'));
    expect(sync).toMatch(/--frozen/);
    expect(sync).toMatch(/--no-default-groups/);
    expect(sync).toMatch(/--no-install-project/);
    expect(sync).not.toMatch(/--group|--all-groups/);
  });
});
