// Reads contracts/: the schemas (by name, e.g. 'trainer-event') and their golden fixtures, and
// checks instances with ajv (draft 2020-12, formats on). Used by the contract tests of both the
// gateway and the CLI; Python's twin is bento/tests/test_contracts.py.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

export const contractsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const fixturesDir = path.join(contractsDir, 'fixtures');

/** A JSON Schema document, read as it is. */
export type SchemaDoc = Record<string, any>;

/** The schema names: contracts/<name>.schema.json. */
export const schemaNames = fs
  .readdirSync(contractsDir)
  .filter((file) => file.endsWith('.schema.json'))
  .map((file) => file.slice(0, -'.schema.json'.length))
  .sort();

export function schema(name: string): SchemaDoc {
  return JSON.parse(fs.readFileSync(path.join(contractsDir, `${name}.schema.json`), 'utf8')) as SchemaDoc;
}

// ajv-formats is CommonJS: its default export sits one level down under NodeNext.
const addFormats = addFormatsModule.default;
// Strict: unknown keywords and untyped keywords fail; `required` may name properties defined elsewhere (allOf).
const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
addFormats(ajv);
for (const name of schemaNames) ajv.addSchema(schema(name));

/** The compiled validator of a schema; its `errors` say why the last instance failed. */
export function validator(name: string): ValidateFunction {
  const validate = ajv.getSchema(schema(name).$id as string);
  if (!validate) throw new Error(`no schema ${name}`);
  return validate;
}

/** contracts/fixtures/<name>/<kind>/*: a .json file is one instance, a .jsonl file one per line. */
export function fixtures(name: string, kind: 'valid' | 'invalid'): { file: string; instances: unknown[] }[] {
  const dir = path.join(fixturesDir, name, kind);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((file) => /\.jsonl?$/.test(file))
    .sort()
    .map((file) => {
      const text = fs.readFileSync(path.join(dir, file), 'utf8');
      const instances = file.endsWith('.jsonl')
        ? text
            .split('\n')
            .filter((line) => line.trim() !== '')
            .map((line) => JSON.parse(line) as unknown)
        : [JSON.parse(text) as unknown];
      return { file, instances };
    });
}

/** Every instance of a schema's fixtures of one kind, flattened. */
export function instancesOf(name: string, kind: 'valid' | 'invalid'): unknown[] {
  return fixtures(name, kind).flatMap((fixture) => fixture.instances);
}
