// The documentation against the code: README.md's configuration table is the one the config
// schemas generate (scripts/docs/config-table.ts), docs/CLI.md is what `oclif readme` makes of
// the commands in cli/src/commands, and the documents' links and CLI examples name things that exist.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type ConfigRow,
  collectSettings,
  descriptionProblems,
  renderTable,
  tableEnd,
  tableIn,
  tableStart,
  withTable,
} from '../../scripts/docs/config-table.js';
import { fromRoot, readText, repoRoot } from './paths.js';

const documents = ['README.md', 'README.ru.md', 'docs/SOLUTION.md', 'docs/CLI.md'];

describe('configuration table (helpers)', () => {
  const row = (name: string, description?: string): ConfigRow => ({
    name,
    defaults: new Map([['gateway', '1']]),
    required: false,
    description,
  });

  it('when a setting has no description, then the table is not generated and the setting is named', () => {
    expect(() => renderTable([row('BIND_HOST', 'Interface.'), row('NEW_SETTING')])).toThrow(/NEW_SETTING/);
    expect(descriptionProblems([row('NEW_SETTING')]).undescribed).toEqual(['NEW_SETTING']);
  });

  it('when components disagree on a default, then the table shows each with its component', () => {
    const mixed: ConfigRow = {
      name: 'BIND_HOST',
      defaults: new Map([
        ['stack', '127.0.0.1'],
        ['gateway', '0.0.0.0'],
      ]),
      required: false,
      description: 'Interface.',
    };
    const table = renderTable([mixed]);
    expect(table).toContain('`127.0.0.1` (stack), `0.0.0.0` (gateway)');
    expect(table).toContain('| stack, gateway |');
  });

  it('when the table is written into a README, then only the part between the markers changes', () => {
    const readme = `intro\n\n${tableStart}\nold\n${tableEnd}\n\nrest\n`;
    const updated = withTable(readme, '| a |\n| - |');
    expect(updated).toBe(`intro\n\n${tableStart}\n\n| a |\n| - |\n\n${tableEnd}\n\nrest\n`);
    expect(tableIn(updated)).toBe('| a |\n| - |');
    expect(() => tableIn('no markers')).toThrow(/config-table:start/);
  });
});

describe('README.md configuration table', () => {
  let rows: ConfigRow[];
  beforeAll(() => {
    rows = collectSettings();
  });

  it('when a schema has a setting, then it has a description, and every description names a setting', () => {
    expect(descriptionProblems(rows)).toEqual({ undescribed: [], unknown: [] });
  });

  it('when README.md is compared with the table the schemas generate, then they are the same (else: npm run docs)', () => {
    expect(tableIn(readText('README.md'))).toBe(renderTable(rows));
  });

  it('when the schemas are read, then the table covers every component and the settings they share', () => {
    const readBy = (name: string) => [...(rows.find((r) => r.name === name)?.defaults.keys() ?? [])];
    expect(readBy('MINIO_SECRET_KEY')).toEqual(['stack', 'gateway', 'Python', 'CLI']);
    expect(readBy('MAX_IMAGE_PIXELS')).toEqual(['gateway', 'Python']);
    expect(readBy('GATEWAY_URL')).toEqual(['CLI']);
  });
});

/** Command ids from the files under cli/src/commands: `model/import-base.ts` is `model import-base`. */
function commandIds(): string[] {
  const root = fromRoot('cli/src/commands');
  const walk = (dir: string): string[] =>
    fs
      .readdirSync(dir, { withFileTypes: true })
      .flatMap((entry) =>
        entry.isDirectory()
          ? walk(path.join(dir, entry.name))
          : entry.name.endsWith('.ts')
            ? [path.relative(root, path.join(dir, entry.name)).replace(/\.ts$/, '').split(path.sep).join(' ')]
            : [],
      );
  return walk(root).sort();
}

describe('docs/CLI.md', () => {
  it('when a command exists in cli/src/commands, then docs/CLI.md has its section', () => {
    const reference = readText('docs/CLI.md');
    const ids = commandIds();
    expect(ids.length).toBeGreaterThan(5);
    const missing = ids.filter((id) => !new RegExp(`^## \`mini-streamio ${id}( |\`)`, 'm').test(reference));
    expect(missing).toEqual([]);
  });

  it('when oclif readme runs over the commands, then it produces docs/CLI.md as committed (else: npm run docs)', () => {
    const result = spawnSync('npm', ['run', '--silent', '--workspace', 'cli', 'readme', '--', '--dry-run'], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(result.status, result.stderr).toBe(0);
    const generated = result.stdout
      .split('\n')
      .filter((line) => !line.startsWith('replacing <!--'))
      .join('\n');
    expect(generated.trimEnd()).toBe(readText('docs/CLI.md').trimEnd());
  });
});

describe('links and examples in the documentation', () => {
  it('when a document links to a file of the repository, then the file exists', () => {
    const broken = documents.flatMap((doc) => {
      const text = readText(doc);
      const targets = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] as string);
      return targets
        .filter((target) => !/^[a-z]+:/.test(target) && !target.startsWith('#'))
        .map((target) => target.split('#')[0] as string)
        .filter((target) => !fs.existsSync(path.resolve(path.dirname(fromRoot(doc)), target)))
        .map((target) => `${doc} -> ${target}`);
    });
    expect(broken).toEqual([]);
  });

  it('when a document shows `npx mini-streamio <command>`, then that command exists', () => {
    const ids = new Set(commandIds());
    const topics = new Set([...ids].map((id) => id.split(' ')[0]));
    const unknown = documents.flatMap((doc) =>
      [...readText(doc).matchAll(/npx mini-streamio ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?/g)]
        .map((m) => (topics.has(m[1]) && !ids.has(m[1] as string) ? `${m[1]} ${m[2]}` : (m[1] as string)))
        .filter((id) => !ids.has(id))
        .map((id) => `${doc}: ${id}`),
    );
    expect(unknown).toEqual([]);
  });
});
