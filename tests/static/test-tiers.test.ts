// The test tiers of vitest.config.ts: every TypeScript test file runs in exactly one tier, and
// a unit test (*.unit.test.ts) imports nothing that starts processes or opens connections.
// (Python's tiers are checked by bento/tests/conftest.py, which refuses both in unit tests.)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fromRoot, readText, repoRoot } from './paths.js';

const SKIPPED = new Set(['node_modules', 'dist', '.git', '.stack']);

function testFiles(dir = repoRoot): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (SKIPPED.has(entry.name)) return [];
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return testFiles(full);
    return entry.name.endsWith('.test.ts') ? [path.relative(repoRoot, full)] : [];
  });
}

/** What unit tests must not use: processes, sockets, HTTP, and the harnesses that start servers. */
const FORBIDDEN_IN_UNIT: [RegExp, string][] = [
  [/from '(node:)?(child_process|cluster|worker_threads)'/, 'starts processes'],
  [/from '(node:)?(net|http|https|http2|dgram|tls)'/, 'opens sockets'],
  [/from 'supertest'/, 'serves HTTP'],
  [/from '[^']*(harness|test-stack|supervisor)(\.js)?'/, 'starts servers'],
  [/\bfetch\(/, 'makes HTTP requests'],
];

export function unitProblems(source: string): string[] {
  return FORBIDDEN_IN_UNIT.filter(([pattern]) => pattern.test(source)).map(([, why]) => why);
}

describe('test tiers', () => {
  let tiers: Map<string, string[]>;

  beforeAll(() => {
    const listed = spawnSync(
      process.execPath,
      [fromRoot('node_modules/vitest/vitest.mjs'), 'list', '--filesOnly', '--json'],
      { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
    );
    expect(listed.status, listed.stderr).toBe(0);
    tiers = new Map();
    for (const { file, projectName } of JSON.parse(listed.stdout) as {
      file: string;
      projectName: string;
    }[]) {
      const relative = path.relative(repoRoot, file);
      tiers.set(relative, [...(tiers.get(relative) ?? []), projectName]);
    }
  });

  it('when the test files are listed, then each runs in exactly one tier, and *.unit.test.ts in unit', () => {
    const wrong = testFiles()
      .map((file) => ({ file, tiers: tiers.get(file) ?? [] }))
      .filter(
        ({ file, tiers }) => tiers.length !== 1 || file.endsWith('.unit.test.ts') !== (tiers[0] === 'unit'),
      );
    expect(wrong).toEqual([]);
  });

  it('when a unit test imports servers, processes or sockets, then it is named', () => {
    const wrong = [...tiers]
      .filter(([, names]) => names.includes('unit'))
      .map(([file]) => ({ file, problems: unitProblems(readText(file)) }))
      .filter(({ problems }) => problems.length > 0);
    expect(wrong).toEqual([]);
  });

  it('when a source starts a process or a server, then the unit check finds it', () => {
    expect(unitProblems("import { spawn } from 'node:child_process';")).toEqual(['starts processes']);
    expect(unitProblems("import http from 'http';")).toEqual(['opens sockets']);
    expect(unitProblems("import { startMinio } from './support/harness.js';")).toEqual(['starts servers']);
    expect(unitProblems("const r = await fetch('http://x');")).toEqual(['makes HTTP requests']);
    expect(unitProblems("import fs from 'node:fs';\nimport { it } from 'vitest';")).toEqual([]);
  });
});
